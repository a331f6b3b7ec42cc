"""JSON Schemas of the schema's models, for outside tools (``recast schema NAME --json``).

Each document is JSON Schema draft 2020-12 (what pydantic writes), with ``$schema``,
an ``$id`` naming the model and its version, and ``x-recast-schema`` (the version).
The job schema embeds the settings schema for its ``settings`` object; the record
schema accepts every readable record version (1 and 2).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from recast.pipeline.errors import SpecError
from recast.pipeline.schema.job import JobSpec
from recast.pipeline.schema.record import READABLE_SCHEMAS, FrameRecord
from recast.pipeline.schema.scores import QCScores
from recast.pipeline.schema.settings import SwapSettings

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MODELS: dict[str, type[BaseModel]] = {"settings": SwapSettings, "job": JobSpec, "record": FrameRecord, "scores": QCScores}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of ``name`` (settings, job, record or scores)."""
    if name not in MODELS:
        raise SpecError(f"schema {name!r}: not one of {', '.join(MODELS)}")
    model = MODELS[name]
    doc = model.model_json_schema(by_alias=True, mode="validation")
    version = int(getattr(model, "SCHEMA", 1))
    out: dict[str, Any] = {"$schema": DIALECT, "$id": f"urn:recast:schema:{name}:{version}"}
    out.update(doc)
    if name == "job":
        settings = SwapSettings.model_json_schema(mode="validation")
        out.setdefault("$defs", {})["SwapSettings"] = settings
        out["properties"]["settings"] = {"$ref": "#/$defs/SwapSettings", "description": out["properties"]["settings"].get("description", "")}
    if name == "record":  # older records stay valid
        out["properties"]["schema"]["minimum"] = min(READABLE_SCHEMAS)
    return out


def describe(name: str) -> list[dict[str, Any]]:
    """One row per top-level field: name, type, default, description (the readable form)."""
    doc = json_schema(name)
    required = set(doc.get("required", []))
    rows = []
    for key, prop in doc.get("properties", {}).items():
        rows.append({"field": key, "type": _type_text(prop, doc), "required": key in required,
                     "has_default": "default" in prop, "default": prop.get("default"),
                     "description": prop.get("description", "")})
    return rows


def _type_text(prop: dict[str, Any], doc: dict[str, Any]) -> str:
    if "enum" in prop:
        return "|".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return repr(prop["const"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_text(p, doc) for p in prop["anyOf"])
    t = prop.get("type", "any")
    if t == "array" and "items" in prop:
        return f"list of {_type_text(prop['items'], doc)}"
    lo, hi = prop.get("minimum"), prop.get("maximum")
    if lo is not None and hi is not None:
        return f"{t} {lo}..{hi}"
    return str(t)
