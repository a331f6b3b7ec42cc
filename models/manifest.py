"""The actor manifest (``manifest.json``): layout, reading and checking.

Layout (schema 1)::

    {"schema": 1, "name", "backend", "created",
     "source_files": [{"name", "path", "sha256", "size"}],      # the actor images used
     "model_files":  [{"path", "sha256", "size", "role", "licence"}],  # primary first
     "licences":     [{"model", "file", "licence", "commercial_use"}], # every model used
     "consent":      {ConsentRecord fields},
     "files":        [{"path", "sha256", "size"}],  # EVERY file in the folder but manifest.json
     "external_files": [{"model", "path", "sha256", "size"}],  # optional: models outside the folder
     ...backend additions (e.g. "bank", "inswapper", "dfm")}

Hash policy: after the backend builder has written its files, every file under
the actor folder except ``manifest.json`` is hashed into ``files``; builders
therefore never hash anything themselves. ``model_files`` names the subset that
are model weights (with role and licence) so records can quote the primary hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recast.models.hashing import file_entry, sha256_file, walk_files
from recast.pipeline.errors import ActorError

MANIFEST = "manifest.json"
SCHEMA = 1
RESERVED = frozenset({"schema", "name", "backend", "created", "source_files", "consent", "files"})
REQUIRED: dict[str, type] = {
    "schema": int,
    "name": str,
    "backend": str,
    "created": str,
    "source_files": list,
    "model_files": list,
    "licences": list,
    "consent": dict,
    "files": list,
}


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise ActorError(f"{path}: actor manifest not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ActorError(f"{path}: manifest does not parse ({exc})") from None
    if not isinstance(data, dict):
        raise ActorError(f"{path}: manifest must be a JSON object")
    check_manifest(data, path)
    return data


def check_manifest(data: dict[str, Any], path: Path) -> None:
    """Structural check; one error naming the first bad field."""
    for key, typ in REQUIRED.items():
        if key == "consent":
            continue  # a missing consent record is a ConsentError, raised where it is used
        if key not in data:
            raise ActorError(f"{path}: manifest field {key!r} is missing")
        if not isinstance(data[key], typ):
            raise ActorError(f"{path}: manifest field {key!r} must be a {typ.__name__}")
    if data["schema"] != SCHEMA:
        raise ActorError(f"{path}: manifest schema {data['schema']} is not supported (expected {SCHEMA})")
    for i, entry in enumerate(data["files"] + data["model_files"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("sha256"), str):
            raise ActorError(f"{path}: manifest file entry {i} needs 'path' and 'sha256'")
        if Path(entry["path"]).is_absolute() or ".." in Path(entry["path"]).parts:
            raise ActorError(f"{path}: manifest file path {entry['path']!r} must stay inside the actor folder")


def external_problems(manifest: dict[str, Any], search_dirs: list[Path] | None = None) -> list[str]:
    """One line per ``external_files`` entry (a model outside the actor folder the actor was
    built with, e.g. dlib's predictors) whose file is missing or changed.

    An entry is sound when its recorded path, or a file of the same name in one of
    ``search_dirs`` (the venv moved), has the recorded sha256. Manifests without the
    section (actors built before it existed) have nothing to check.
    """
    problems: list[str] = []
    entries = manifest.get("external_files") or []
    if not isinstance(entries, list):
        return ["manifest field 'external_files' must be a list"]
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("sha256"), str):
            problems.append(f"manifest external file entry {i} needs 'path' and 'sha256'")
            continue
        recorded = Path(entry["path"])
        candidates = [recorded, *(Path(d) / recorded.name for d in search_dirs or [])]
        present = [p for p in candidates if p.is_file()]
        if not present:
            problems.append(f"{recorded}: model file the actor was built with is missing")
        elif not any(sha256_file(p) == entry["sha256"] for p in present):
            problems.append(f"{present[0]}: sha256 differs from the model file the actor was built with")
    return problems


def hash_folder(root: Path) -> list[dict[str, Any]]:
    """The ``files`` section: every file under ``root`` except the manifest."""
    return [file_entry(root, rel) for rel in walk_files(root, frozenset({MANIFEST}))]


def integrity_problems(root: Path, manifest: dict[str, Any], include_unlisted: bool = True) -> list[str]:
    """One line per listed file that is missing or whose size/sha256 differs (plus unlisted files)."""
    problems: list[str] = []
    listed: set[str] = set()
    for entry in manifest.get("files", []):
        rel = entry["path"]
        listed.add(rel)
        p = root / rel
        if not p.is_file():
            problems.append(f"{p}: file listed in the manifest is missing")
            continue
        size = entry.get("size")
        if isinstance(size, int) and p.stat().st_size != size:
            problems.append(f"{p}: size {p.stat().st_size} != {size} recorded (truncated or replaced)")
            continue
        if sha256_file(p) != entry["sha256"]:
            problems.append(f"{p}: sha256 does not match the manifest (file changed or tampered)")
    for entry in manifest.get("model_files", []):
        if entry["path"] not in listed:
            problems.append(f"{root / entry['path']}: model file is not covered by the manifest's file hashes")
    for rel in walk_files(root, frozenset({MANIFEST})) if include_unlisted else []:
        if rel not in listed:
            problems.append(f"{root / rel}: file is not listed in the manifest")
    return problems
