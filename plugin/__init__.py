"""Host-side packages (stdlib only, importable by Nuke's/Resolve's Python)."""
