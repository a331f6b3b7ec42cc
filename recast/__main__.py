import sys

from recast.pipeline.cli import main

sys.exit(main())
