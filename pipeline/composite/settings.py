"""Swap settings (kept import path): the definition lives in :mod:`recast.pipeline.schema.settings`."""

from __future__ import annotations

from recast.pipeline.schema.settings import (
    BLEND_METHODS,
    COLOUR_METHODS,
    MASK_SOURCES,
    SELECTION_MODES,
    BlendMethod,
    ColourMethod,
    MatteSource,
    ReferenceItem,
    SelectionMode,
    SwapSettings,
    absolute_reference_images,
    parse_reference,
    parse_reference_items,
    parse_references,
)

__all__ = [
    "BLEND_METHODS", "COLOUR_METHODS", "MASK_SOURCES", "SELECTION_MODES", "BlendMethod", "ColourMethod", "MatteSource",
    "ReferenceItem", "SelectionMode", "SwapSettings", "absolute_reference_images", "parse_reference",
    "parse_reference_items", "parse_references",
]
