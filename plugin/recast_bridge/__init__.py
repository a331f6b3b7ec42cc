"""Host bridge (stdlib only). Not built yet: no open issue covers it."""
