"""Recast for Nuke, UI: a "Recast" menu and a Nodes toolbar entry (failures never block start-up)."""

import nuke

try:
    _create = "import recast_bridge.nuke_host as recast_host; recast_host.create_node()"
    _menu = nuke.menu("Nuke").addMenu("Recast")
    _menu.addCommand("Recast node", _create)
    _menu.addCommand("Refresh selected", "import recast_bridge.nuke_host as recast_host; recast_host.refresh(nuke.selectedNode())")
    _menu.addCommand("Load approved (selected)", "import recast_bridge.nuke_host as recast_host; recast_host.load_approved(nuke.selectedNode())")
    nuke.menu("Nodes").addMenu("Recast").addCommand("Recast", _create)
except Exception as _exc:  # noqa: BLE001 - a menu failure must never stop Nuke from starting
    nuke.tprint("Recast menu not installed: %s" % " ".join(str(_exc).split()))
