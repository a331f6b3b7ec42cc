"""Service security: loopback by default, a token off loopback, paths kept inside allowed roots.

Paths arrive in a request as the plate and output of a spec, and inside its
settings (``settings.enhancer_model``, ``settings.analyser_models``, a
reference ``image`` of a selection, a reprocess ``set`` override): every one
of them goes through :func:`inside_roots` before anything is written.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from recast.pipeline.errors import RecastError, SpecError


class AccessError(RecastError):
    """A request or a server setting would reach outside what is allowed."""


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1; anything else (0.0.0.0, names, LAN IPs) is not."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve off loopback without a token (raises AccessError naming the host)."""
    if is_loopback(host):
        return
    if not token or len(token) < 16:
        raise AccessError(
            f"--host {host}: serving off loopback requires RECAST_TOKEN (at least 16 characters) to be set"
        )


def token_ok(expected: str | None, presented: str | None) -> bool:
    """Constant-time token check; no token configured means none is needed."""
    if not expected:
        return True
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def parse_roots(values: Sequence[str | os.PathLike[str]]) -> list[Path]:
    roots: list[Path] = []
    for v in values:
        p = Path(v).expanduser()
        if not p.is_dir():
            raise SpecError(f"--root {p}: not a folder")
        roots.append(p.resolve())
    if not roots:
        raise SpecError("--root: at least one allowed root folder is needed")
    return roots


def inside_roots(raw: str, roots: Sequence[Path], what: str) -> Path:
    """The real path of ``raw`` (pattern tokens allowed in its file name), refused outside ``roots``.

    ``..`` components are refused outright; symlinks are resolved before the
    check, so a link inside a root that points outside is refused too.
    """
    if not isinstance(raw, str) or not raw or "\x00" in raw:
        raise AccessError(f"{what}: empty or invalid path")
    p = Path(raw).expanduser()
    if ".." in p.parts:
        raise AccessError(f"{what}: '..' is not allowed in paths")
    if not p.is_absolute():
        raise AccessError(f"{what}: {raw!r} must be an absolute path")
    try:
        real = p.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise AccessError(f"{what}: cannot resolve {raw!r} ({exc})") from None
    for root in roots:
        if real == root or real.is_relative_to(root):
            return real
    raise AccessError(f"{what}: {raw!r} resolves outside the allowed roots")


def check_files_inside(paths: Sequence[Path], roots: Sequence[Path], what: str) -> None:
    for p in paths:
        inside_roots(str(p), roots, what)


# Settings whose value is a file or folder the engine opens, by name: a key named
# ``image``/``path`` or ending in ``_path``, ``_dir``, ``_file``, ``_image``, ``_model`` or
# ``_models`` (``enhancer_model``, ``analyser_models``, a selection's reference ``image``),
# so a setting added later is checked without a list to update. ``reference`` text may
# name images too (``ACTOR=IMAGE``): see _check_reference_images.
_PATH_KEYS: frozenset[str] = frozenset({"image", "path"})
_PATH_SUFFIXES: tuple[str, ...] = ("_path", "_dir", "_file", "_image", "_model", "_models")


def is_path_setting(key: str) -> bool:
    return key in _PATH_KEYS or key.endswith(_PATH_SUFFIXES)


def check_setting_paths(settings: Mapping[str, Any] | None, roots: Sequence[Path], what: str = "settings") -> None:
    """Refuse (AccessError naming the field) any path-valued setting, at any depth, outside ``roots``.

    Nested objects and lists are walked (``selection.references[0].image``); a
    list under a path key is a list of paths. An empty or null value means "not
    set" and is allowed; any other non-text value under a path key is refused.
    """
    if not settings:
        return
    stack: list[tuple[str, Any, bool]] = [(what, dict(settings), False)]
    while stack:
        where, node, is_path = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    _check_reference_images(value, roots, f"{where}.{key}")
                    continue
                if key == "holdout" and isinstance(value, str):
                    _check_holdout(value, roots, f"{where}.{key}")
                    continue
                stack.append((f"{where}.{key}", value, isinstance(key, str) and is_path_setting(key)))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", v, is_path) for i, v in enumerate(node))
        elif is_path:
            if node is None or node == "":
                continue
            if not isinstance(node, str):
                raise AccessError(f"{where}: a path is expected, got {type(node).__name__}")
            inside_roots(node, roots, where)


def _check_holdout(text: str, roots: Sequence[Path], where: str) -> None:
    """``settings.holdout`` (PATTERN[:CHANNEL]) names a matte sequence: its pattern must be inside ``roots``."""
    from recast.pipeline.composite.holdout import parse_holdout

    if not text:
        return
    try:
        spec = parse_holdout(text)
    except SpecError:
        return  # left to the settings validation (a 4xx naming it)
    inside_roots(spec.pattern, roots, where)


def _check_reference_images(text: str, roots: Sequence[Path], where: str) -> None:
    """``settings.reference`` may name images (``ACTOR=path.png``): each must be inside ``roots``.

    A reference that does not parse is left to the settings validation (a 4xx naming it).
    """
    from recast.pipeline.composite.settings import parse_reference_items

    try:
        items = parse_reference_items(text)
    except SpecError:
        return
    for item in items:
        if item.image is not None:
            inside_roots(str(item.image), roots, where)
