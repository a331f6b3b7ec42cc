"""Maps the repository's top-level folders under the one ``recast`` namespace.

Metadata lives in pyproject.toml; only the package list and the folder mapping are
computed here, because setuptools' declarative ``packages.find`` cannot rename.
"""

from setuptools import find_packages, setup

PARTS = ("pipeline", "models", "qc", "review_ui")

package_dir = {"recast": "recast", "recast_bridge": "plugin/recast_bridge"}
packages = ["recast", "recast_bridge"]
for part in PARTS:
    package_dir[f"recast.{part}"] = part
    packages += [f"recast.{part}"] + [f"recast.{part}.{sub}" for sub in find_packages(part)]
packages += [f"recast_bridge.{sub}" for sub in find_packages("plugin/recast_bridge")]

setup(packages=packages, package_dir=package_dir)
