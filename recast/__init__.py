"""Recast: face replacement for film and TV VFX.

The installed distribution holds every part under this one namespace
(``recast.pipeline``, ``recast.models``, ``recast.qc``, ``recast.review_ui``), so
nothing generic such as ``pipeline`` or ``models`` lands at the top level of a
studio's site-packages. In the repository the parts stay top-level folders
(``pipeline/``, ``models/`` ...); ``setup.py`` maps them under ``recast`` for the
wheel, and in a source checkout this package's search path also names the
checkout root, so ``recast.pipeline`` resolves to ``<checkout>/pipeline`` there.
"""

from __future__ import annotations

from pathlib import Path

PARTS: tuple[str, ...] = ("pipeline", "models", "qc", "review_ui")

_checkout = Path(__file__).resolve().parent.parent
SOURCE_CHECKOUT: Path | None = None  # the checkout root when running from source (its pyproject.toml names the built-in plugins)
if (_checkout / "pyproject.toml").is_file() and all((_checkout / p / "__init__.py").is_file() for p in PARTS):
    __path__.append(str(_checkout))  # type: ignore[name-defined]  # source checkout: parts are siblings
    SOURCE_CHECKOUT = _checkout
