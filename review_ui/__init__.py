"""Review app (PyQt5): plate/comp viewer, score timeline, flags with notes and strokes, takes, approve, publish.

``recast review [JOB_ID|JOB_DIR] [--server URL]``. Modules: :mod:`client` (the one
door to the core: local store or HTTP), :mod:`display` (OCIO display pipeline),
:mod:`loader` (proxies -> display images off the UI thread), :mod:`viewer`,
:mod:`timeline`, :mod:`window`, :mod:`app` (job list, screenshots),
:mod:`otio_export`.
"""
