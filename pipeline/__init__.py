"""Recast processing core: plates, colour, faces, swap, composite, jobs."""

__version__ = "0.1.0"
