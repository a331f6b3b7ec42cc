"""Consent records: no consent record, no actor and no swap.

A consent file is any non-empty file (signed PDF, scan, text, JSON). Who
consented and the scope of the consent come from explicit options or, when the
file is JSON, from its ``who``/``scope``/``when`` keys (a few common synonyms
are accepted). The consent id is derived from the file's sha256, so the same
signed document always yields the same id.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recast.models.hashing import sha256_file
from recast.pipeline.errors import ConsentError

CONSENT_DIR = "consent"
_WHO_KEYS = ("who", "subject", "name", "person", "signed_by")
_SCOPE_KEYS = ("scope", "purpose", "usage", "use")
_WHEN_KEYS = ("when", "date", "signed", "signed_at", "created")

HOW_TO_ADD = (
    "add one with `recast actor build NAME ... --consent FILE --consent-who WHO --consent-scope SCOPE` "
    "(or `recast actor consent NAME --consent FILE` for an existing actor); "
    "a JSON consent file may carry who/scope/when itself"
)


@dataclass(frozen=True)
class ConsentRecord:
    id: str
    file: str  # path of the copy inside the actor folder, relative to it
    original: str  # where the file came from
    sha256: str
    who: str
    scope: str
    when: str  # when consent was given (from the file or options), else "not stated"
    recorded: str  # when it was attached to this actor

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def consent_id(sha256: str) -> str:
    return f"consent-{sha256[:16]}"


def read_consent(path: Path, who: str | None = None, scope: str | None = None, when: str | None = None) -> ConsentRecord:
    """Validate ``path`` and resolve who/scope/when; ``file`` is filled in when copied."""
    path = Path(path)
    if not path.is_file():
        raise ConsentError(f"{path}: consent file not found; {HOW_TO_ADD}")
    if path.stat().st_size == 0:
        raise ConsentError(f"{path}: consent file is empty; {HOW_TO_ADD}")
    fields = _json_fields(path)
    who = who or _pick(fields, _WHO_KEYS)
    scope = scope or _pick(fields, _SCOPE_KEYS)
    when = when or _pick(fields, _WHEN_KEYS)
    if not who:
        raise ConsentError(f"{path}: consent record does not say who consented; pass --consent-who or add \"who\" to the JSON file")
    if not scope:
        raise ConsentError(f"{path}: consent record has no scope; pass --consent-scope or add \"scope\" to the JSON file")
    digest = sha256_file(path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return ConsentRecord(
        id=consent_id(digest),
        file="",
        original=str(path.resolve()),
        sha256=digest,
        who=who,
        scope=scope,
        when=when or "not stated",
        recorded=now,
    )


def consent_from_manifest(manifest: dict[str, Any], where: str) -> ConsentRecord:
    """The consent section of a manifest, or ConsentError saying how to add one."""
    data = manifest.get("consent")
    if not isinstance(data, dict) or not data.get("file") or not data.get("sha256"):
        raise ConsentError(f"{where}: no consent record; {HOW_TO_ADD}")
    try:
        return ConsentRecord(**{k: str(data[k]) for k in ConsentRecord.__dataclass_fields__})
    except KeyError as exc:
        raise ConsentError(f"{where}: consent record lacks {exc.args[0]!r}; {HOW_TO_ADD}") from None


def _json_fields(path: Path) -> dict[str, Any]:
    if path.suffix.lower() != ".json":
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConsentError(f"{path}: consent JSON does not parse ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ConsentError(f"{path}: consent JSON must be an object with who/scope/when")
    return data


def _pick(fields: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = fields.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None
