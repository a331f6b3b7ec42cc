"""Pydantic validation errors -> one-line :class:`SpecError` naming the field.

Every model of :mod:`recast.pipeline.schema` reports a bad value as
``<prefix>.<field>: <what is wrong>`` (``settings.mask_blur: -1.0 is outside
0..128``, ``spec.priority: ...``), the way a user reads it on the CLI, in an
HTTP 4xx ``detail`` or in a log.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from recast.pipeline.errors import SpecError


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}"
    return out


def _bounds(model: type[BaseModel] | None, name: str) -> tuple[Any, Any] | None:
    if model is None or name not in model.model_fields:
        return None
    lo = hi = None
    for m in model.model_fields[name].metadata:
        lo = getattr(m, "ge", getattr(m, "gt", lo))
        hi = getattr(m, "le", getattr(m, "lt", hi))
    return (lo, hi) if lo is not None and hi is not None else None


def spec_error(exc: ValidationError, prefix: str, model: type[BaseModel] | None = None,
               unknown_word: str = "field") -> SpecError:
    """The first error of ``exc`` as one line ``prefix.field: message``."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err.get("loc", ()) if p not in ("function-before", "function-after"))
    where = prefix + _loc_text(loc)
    kind = err.get("type", "")
    value = err.get("input")
    field = str(loc[0]) if loc else ""
    if kind == "extra_forbidden":
        known = ", ".join(sorted(model.model_fields)) if model is not None else ""
        return SpecError(f"{where}: unknown {unknown_word}" + (f" (known: {known})" if known else ""))
    if kind == "missing":
        return SpecError(f"{where}: required")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        b = _bounds(model, field) if len(loc) == 1 else None
        if b is not None:
            return SpecError(f"{where}: {value!r} is outside {b[0]:g}..{b[1]:g}")
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return SpecError(f"{where}: {value!r} is not one of {expected.replace(' or ', ', ')}")
    if kind.startswith("bool"):
        return SpecError(f"{where}: expected true/false, got {value!r}")
    if kind == "finite_number":
        return SpecError(f"{where}: {value!r} is not a finite number")
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    msg = msg[:1].lower() + msg[1:]
    if "input" in err and "got " not in msg:
        msg += f" (got {value!r})"
    return SpecError(f"{where}: {msg}")
