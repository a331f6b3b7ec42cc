"""Recast for Nuke, start-up: only adds the plugin paths (put this folder on NUKE_PATH).

The gizmo lives next to this file; the host bridge package ``recast_bridge`` lives
in ``../plugin`` (or wherever RECAST_BRIDGE_PATH points).
"""

import os

import nuke

_here = os.path.dirname(os.path.abspath(__file__))
nuke.pluginAddPath(os.environ.get("RECAST_BRIDGE_PATH") or os.path.join(os.path.dirname(_here), "plugin"))
