"""Build, load, list and verify actor models (folders under ``models_root()``).

Building is atomic: everything is written into a hidden temp folder next to the
final one and renamed into place, so a killed build leaves no half actor. The
backend's own preparation goes through ``ACTOR_BUILDERS`` (models/base.py);
afterwards every file in the folder except ``manifest.json`` is hashed (see
models/manifest.py), so backends never hash anything themselves.

``load_actor`` refuses an actor without a consent record (ConsentError, saying
how to add one) and, with ``verify``, any listed file whose sha256 or size no
longer matches (IntegrityError naming the file).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recast.models.base import ACTOR_BUILDERS, ActorModel
from recast.models.consent import (
    CONSENT_DIR,
    HOW_TO_ADD,
    ConsentRecord,
    consent_from_manifest,
    read_consent,
)
from recast.models.hashing import file_entry, sha256_file
from recast.models.images import expand_images, load_rgb
from recast.models.manifest import (
    MANIFEST,
    RESERVED,
    SCHEMA,
    external_problems,
    hash_folder,
    integrity_problems,
    read_manifest,
)
from recast.pipeline import __version__
from recast.pipeline.atomic import TMP_MARK, atomic_write_bytes, atomic_write_json, fsync_dir, is_temp_name
from recast.pipeline.errors import ActorError, ConsentError, FaceModelError, IntegrityError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# build_actor options consumed here; everything else goes to the backend builder
_OWN_OPTIONS = frozenset({"force", "consent_who", "consent_scope", "consent_when"})


def models_root() -> Path:
    """``$RECAST_MODELS``, else ``~/.recast/models``."""
    env = os.environ.get("RECAST_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".recast" / "models"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ActorError(f"actor name {name!r} is invalid: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit")
    return name


def actor_dir(name: str) -> Path:
    return models_root() / check_name(name)


def build_actor(
    name: str,
    images: list[Path],
    consent: Path,
    backend: str = "warp",
    model_file: Path | None = None,
    options: dict[str, Any] | None = None,
) -> ActorModel:
    """Build actor ``name`` from ``images`` with the ``backend`` builder; returns the loaded actor.

    ``options``: ``force`` (replace an existing actor), ``consent_who`` /
    ``consent_scope`` / ``consent_when`` (else read from a JSON consent file),
    ``licence`` (licence of ``model_file``); the rest goes to the backend builder,
    which also receives ``model_file``.
    """
    opts = dict(options or {})
    final = actor_dir(name)
    builder = ACTOR_BUILDERS.create(backend)
    if final.exists() and not opts.get("force"):
        raise ActorError(f"actor {name!r} already exists at {final}; pass --force to replace it")
    record = read_consent(Path(consent), opts.get("consent_who"), opts.get("consent_scope"), opts.get("consent_when"))
    paths = expand_images([Path(p) for p in images])
    loaded = [(p, load_rgb(p)) for p in paths]
    sources = [{"name": p.name, "path": str(p.resolve()), "sha256": sha256_file(p), "size": p.stat().st_size} for p in paths]

    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        record = _copy_consent(tmp, Path(consent), record)
        builder_opts = {k: v for k, v in opts.items() if k not in _OWN_OPTIONS}
        builder_opts["model_file"] = None if model_file is None else Path(model_file)
        additions = builder.build(tmp, loaded, builder_opts) or {}
        manifest = _assemble(name, backend, sources, record, additions, tmp)
        atomic_write_json(tmp / MANIFEST, manifest)
        _swap_into_place(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return load_actor(name, verify=False)


def load_actor(name: str, verify: bool = True) -> ActorModel:
    """The actor, refused without a consent record and (``verify``) on any hash mismatch."""
    root = actor_dir(name)
    if not (root / MANIFEST).is_file():
        raise ActorError(f"no actor {name!r} under {models_root()} (build one with `recast actor build {name} --images ... --consent ...`)")
    manifest = read_manifest(root)
    where = f"actor {name!r} ({root})"
    record = consent_from_manifest(manifest, where)
    if not (root / record.file).is_file():
        raise ConsentError(f"{root / record.file}: consent file of actor {name!r} is missing; {HOW_TO_ADD}")
    if verify:
        problems = integrity_problems(root, manifest, include_unlisted=False)
        if sha256_file(root / record.file) != record.sha256:
            problems.insert(0, f"{root / record.file}: consent file sha256 does not match its record")
        if problems:
            more = f" (and {len(problems) - 1} more; run `recast actor verify {name}`)" if len(problems) > 1 else ""
            raise IntegrityError(f"actor {name!r}: {problems[0]}{more}")
    return ActorModel(name=name, root=root, manifest=manifest)


@dataclass(frozen=True)
class ActorListing:
    name: str
    root: Path
    actor: ActorModel | None
    error: str | None


def scan_actors() -> list[ActorListing]:
    """Every actor folder, readable or not (``error`` says why not); no hashing."""
    root = models_root()
    if not root.is_dir():
        return []
    out: list[ActorListing] = []
    for d in sorted(root.iterdir()):
        if not d.is_dir() or is_temp_name(d.name) or d.name.startswith(".") or not (d / MANIFEST).exists():
            continue
        try:
            manifest = read_manifest(d)
            consent_from_manifest(manifest, f"actor {d.name!r}")
            out.append(ActorListing(d.name, d, ActorModel(d.name, d, manifest), None))
        except ActorError as exc:
            out.append(ActorListing(d.name, d, None, str(exc)))
    return out


def list_actors() -> list[ActorModel]:
    """Actors whose manifest reads and carries a consent record (hashes not checked)."""
    return [x.actor for x in scan_actors() if x.actor is not None]


def verify_actor(name: str) -> list[str]:
    """Every problem found (empty = sound): manifest, consent record, hashes, unlisted files."""
    root = actor_dir(name)
    try:
        manifest = read_manifest(root)
    except ActorError as exc:
        return [str(exc)]
    problems: list[str] = []
    try:
        record = consent_from_manifest(manifest, f"actor {name!r}")
        cpath = root / record.file
        if not cpath.is_file():
            problems.append(f"{cpath}: consent file is missing")
        elif sha256_file(cpath) != record.sha256:
            problems.append(f"{cpath}: consent file sha256 does not match its record")
    except ConsentError as exc:
        problems.append(str(exc))
    problems.extend(integrity_problems(root, manifest, include_unlisted=True))
    problems.extend(external_problems(manifest, _model_search_dirs()))
    return problems


def _model_search_dirs() -> list[Path]:
    """Where external model files may live now if the recorded path moved (dlib's models)."""
    from recast.pipeline.faces.dlib_backend import default_models_dir

    try:
        return [default_models_dir()]
    except FaceModelError:
        return []


def attach_consent(name: str, consent: Path, who: str | None = None, scope: str | None = None, when: str | None = None) -> ActorModel:
    """Add or replace the consent record of an existing, intact actor (manifest rewritten atomically)."""
    root = actor_dir(name)
    manifest = read_manifest(root)
    problems = integrity_problems(root, manifest, include_unlisted=False)
    if problems:
        raise IntegrityError(f"actor {name!r}: {problems[0]}; rebuild it instead of attaching consent")
    record = read_consent(Path(consent), who, scope, when)
    old = manifest.get("consent") if isinstance(manifest.get("consent"), dict) else None
    record = _copy_consent(root, Path(consent), record)
    files = [e for e in manifest["files"] if not (old and e["path"] == old.get("file")) and e["path"] != record.file]
    if old and old.get("file") and old["file"] != record.file and (root / old["file"]).is_file():
        (root / old["file"]).unlink()
    files.append(file_entry(root, record.file))
    manifest["files"] = sorted(files, key=lambda e: e["path"])
    manifest["consent"] = record.to_json()
    atomic_write_json(root / MANIFEST, manifest)
    return load_actor(name, verify=True)


def _copy_consent(root: Path, src: Path, record: ConsentRecord) -> ConsentRecord:
    cdir = root / CONSENT_DIR
    cdir.mkdir(exist_ok=True)
    dst = cdir / (src.name if not src.name.startswith(".") else f"consent{src.suffix}")
    atomic_write_bytes(dst, src.read_bytes())
    if sha256_file(dst) != record.sha256:
        raise ConsentError(f"{src}: consent file changed while it was being copied; try again")
    return replace(record, file=dst.relative_to(root).as_posix())


def _assemble(
    name: str,
    backend: str,
    sources: list[dict[str, Any]],
    record: ConsentRecord,
    additions: dict[str, Any],
    root: Path,
) -> dict[str, Any]:
    clash = RESERVED & set(additions)
    if clash:
        raise ActorError(f"{backend} builder returned reserved manifest field(s): {', '.join(sorted(clash))}")
    files = hash_folder(root)
    by_path = {e["path"]: e for e in files}
    model_files: list[dict[str, Any]] = []
    for entry in additions.pop("model_files", None) or []:
        rel = str(entry["path"])
        if rel not in by_path:
            raise ActorError(f"{backend} builder listed model file {rel!r} that is not in the actor folder")
        model_files.append({**entry, "sha256": by_path[rel]["sha256"], "size": by_path[rel]["size"]})
    licences = list(additions.pop("licences", None) or [])
    return {
        "schema": SCHEMA,
        "name": name,
        "backend": backend,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recast_version": __version__,
        "source_files": sources,
        "model_files": model_files,
        "licences": licences,
        "consent": record.to_json(),
        **additions,
        "files": files,
    }


def _swap_into_place(tmp: Path, final: Path) -> None:
    fsync_dir(tmp)
    if final.exists():
        old = final.with_name(f".{final.name}{TMP_MARK}old-{secrets.token_hex(4)}")
        os.rename(final, old)
        try:
            os.rename(tmp, final)
        except OSError:
            os.rename(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        try:
            os.rename(tmp, final)
        except OSError as exc:
            raise ActorError(f"{final}: cannot move the new actor into place ({exc.strerror})") from None
    fsync_dir(final.parent)
