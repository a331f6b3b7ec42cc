"""Recast host bridge: runs inside a host's own Python (3.9+), standard library only.

Layers, each usable alone:

* :mod:`recast_bridge.client` -- the HTTP client of the local ``recast serve``;
* :mod:`recast_bridge.flow` -- host-agnostic steps: plan the plate export, build and
  submit a job spec, poll, list versions, pick the one to load;
* :mod:`recast_bridge.nuke_host`, :mod:`recast_bridge.resolve_host` -- the only
  modules that call into Nuke or DaVinci Resolve;
* ``python3 -m recast_bridge`` -- a command line for scripts and farm wrappers.

Nothing here imports numpy or any ``recast.*`` module.
"""

import sys

__version__ = "0.1.0"
MIN_PYTHON = (3, 9)  # the oldest Python the bridge claims (tests import it on 3.9 in isolated mode)

if sys.version_info < MIN_PYTHON:
    raise ImportError("recast_bridge needs Python 3.9 or newer (this host runs %d.%d)" % sys.version_info[:2])
