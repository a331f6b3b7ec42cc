"""QC: per-frame scores, auto-flags, dailies reports and preview movies."""
