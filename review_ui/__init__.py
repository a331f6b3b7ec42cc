"""Review app (PyQt5). Not built yet: no open issue covers it."""
