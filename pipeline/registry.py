"""Plugins: backends found through ``importlib.metadata`` entry points, one group per contract.

Adding a backend never edits the engine. A distribution declares, in its
``pyproject.toml``::

    [project.entry-points."recast.swappers"]
    mine = "my_package.swapper:make_swapper"

and ``SWAPPERS.create("mine", ...)`` loads ``my_package.swapper`` and calls
``make_swapper``. Recast's own backends are registered the same way (its
``pyproject.toml``). The groups are in :data:`GROUPS`.

Where the built-ins come from: when ``recast`` runs from a source checkout
(``recast.SOURCE_CHECKOUT``) its entry points are read from that checkout's
``pyproject.toml``, and the installed ``recast`` distribution's own entry points
are ignored (an editable install may point at another checkout, or predate a new
backend). Installed from a wheel, the ``recast`` distribution's metadata is used
like any other.

A name offered by two providers is an error naming both (:class:`DuplicatePlugin`),
never a silent overwrite; so is registering a taken name in code
(:meth:`Registry.register`, for tests and embedding applications).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from recast.pipeline.errors import RecastError

T = TypeVar("T")

# contract -> entry-point group
GROUPS: dict[str, str] = {
    "analysers": "recast.analysers",
    "swappers": "recast.swappers",
    "actor_builders": "recast.actor_builders",
    "enhancers": "recast.enhancers",
    "metrics": "recast.metrics",
    "farm": "recast.farm",
    "processors": "recast.processors",
}
DIST_NAME = "recast"


class UnknownBackend(RecastError):
    """Asked for a backend name nobody registered."""


class DuplicatePlugin(RecastError):
    """Two providers offer the same name in one group."""


class PluginLoadError(RecastError):
    """An entry point's module or object cannot be loaded."""


@dataclass(frozen=True)
class Provider:
    """One entry point: where a plugin name comes from."""

    name: str
    group: str
    value: str  # "module:attr"
    dist: str  # distribution name ("recast" for the built-ins; "code" for Registry.register)
    version: str | None
    origin: str  # the dist-info folder, the checkout's pyproject.toml, or "registered in code"

    def describe(self) -> str:
        ver = f" {self.version}" if self.version else ""
        return f"{self.value} from {self.dist}{ver} ({self.origin})"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "value": self.value, "distribution": self.dist,
                "version": self.version, "origin": self.origin}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _checkout_providers(group: str) -> tuple[list[Provider], bool]:
    """Entry points of ``group`` from the source checkout's pyproject.toml; (providers, from_checkout)."""
    import recast

    root = getattr(recast, "SOURCE_CHECKOUT", None)
    if root is None:
        return [], False
    path = Path(root) / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text()).get("project") or {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PluginLoadError(f"{path}: cannot read the built-in plugins ({exc})") from None
    eps = (project.get("entry-points") or {}).get(group) or {}
    version = project.get("version")
    return [Provider(n, group, str(v), DIST_NAME, version, str(path)) for n, v in eps.items()], True


def _dist_origin(dist: md.Distribution) -> str:
    path = getattr(dist, "_path", None)  # PathDistribution: its .dist-info / .egg-info folder
    return str(path) if path is not None else str(dist.locate_file(""))


class EntryPointScan:
    """One pass over the installed distributions' entry points, shared by every group.

    Reading every ``entry_points.txt`` costs ~0.1 s; the scan is kept per ``sys.path``
    (a changed path scans again), so the seven registries of a run pay for it once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._found: list[Provider] = []

    def clear(self) -> None:
        """Scan again on next use (a distribution was installed while running)."""
        with self._lock:
            self._key = None

    def providers(self) -> list[Provider]:
        import sys

        key = tuple(sys.path)
        with self._lock:
            if key != self._key:
                self._found, self._key = _scan_installed(), key
            return list(self._found)


def _scan_installed() -> list[Provider]:
    """Every ``recast.*`` entry point of the installed distributions (sys.path order, shadowed copies skipped)."""
    out: list[Provider] = []
    seen_dists: set[str] = set()
    for dist in md.distributions():
        try:
            dname = dist.metadata["Name"] or ""
        except Exception:  # noqa: BLE001 - a broken METADATA file: skip that distribution
            continue
        key = _norm(dname)
        if key in seen_dists:  # shadowed by an earlier sys.path entry (what import would use)
            continue
        seen_dists.add(key)
        try:
            eps = [ep for ep in dist.entry_points if ep.group.startswith("recast.")]
        except Exception:  # noqa: BLE001 - an unreadable entry_points.txt: that distribution offers nothing
            continue
        out += [Provider(ep.name, ep.group, ep.value, dname, dist.version, _dist_origin(dist)) for ep in eps]
    return out


SCAN = EntryPointScan()  # the process's scan (an explicit object; tests may make their own)


def discover(group: str, scan: EntryPointScan | None = None) -> list[Provider]:
    """Every provider of ``group``: the checkout's built-ins, then installed distributions (sys.path order).

    The same distribution found twice on sys.path counts once (the first, as import would).
    """
    providers, from_checkout = _checkout_providers(group)
    for p in (scan or SCAN).providers():
        if p.group != group:
            continue
        if from_checkout and _norm(p.dist) == _norm(DIST_NAME):
            continue  # the checkout's pyproject.toml names the built-ins
        providers.append(p)
    return providers


class Registry(Generic[T]):
    """Backends of one contract by name: entry points of ``group`` plus any registered in code."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._registered: dict[str, tuple[Provider, Callable[..., T]]] = {}
        self._loaded: dict[str, Callable[..., T]] = {}
        self._found: list[Provider] | None = None  # discovered once (refresh() looks again)
        self._lock = threading.RLock()

    def refresh(self) -> None:
        """Forget what discovery found (a distribution was installed while running)."""
        with self._lock:
            self._found = None
        SCAN.clear()

    # -- discovery -------------------------------------------------------------------------
    def providers(self) -> dict[str, Provider]:
        """Name -> provider (DuplicatePlugin when two providers offer one name)."""
        out: dict[str, Provider] = {}
        with self._lock:
            if self._found is None:
                self._found = discover(self.group)
            found = self._found + [p for p, _ in self._registered.values()]
        for p in found:
            other = out.get(p.name)
            if other is None:
                out[p.name] = p
            elif (_norm(other.dist), other.value) != (_norm(p.dist), p.value):
                raise DuplicatePlugin(
                    f"{self.kind} {p.name!r} ({self.group}) is provided twice: {other.describe()} and {p.describe()}"
                )
        return out

    def register(self, name: str, *, provider: str = "registered in code") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register ``factory`` under ``name`` in code (DuplicatePlugin if the name is taken)."""

        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            value = f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"
            mine = Provider(name, self.group, value, "code", None, provider)
            with self._lock:
                held = self._registered.get(name)
                if held is not None and held[1] is factory:
                    return factory
                existing = held[0] if held is not None else self.providers().get(name)
                if existing is not None:
                    raise DuplicatePlugin(
                        f"{self.kind} {name!r} ({self.group}) is provided twice: {existing.describe()} and {mine.describe()}"
                    )
                self._registered[name] = (mine, factory)
            return factory

        return deco

    def names(self) -> list[str]:
        return sorted(self.providers())

    # -- use -------------------------------------------------------------------------------
    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name`` (loads its module on first use)."""
        with self._lock:
            if name in self._registered:
                return self._registered[name][1]
            providers = self.providers()
            p = providers.get(name)
            if p is None:
                raise UnknownBackend(
                    f"unknown {self.kind} backend {name!r}; known: {', '.join(sorted(providers)) or 'none'}"
                )
            cached = self._loaded.get(p.value)
            if cached is None:
                cached = self._loaded[p.value] = load(p)
            return cached

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        return self.get(name)(*args, **kwargs)


def load(p: Provider) -> Callable[..., Any]:
    """Import the entry point's object (PluginLoadError naming the provider when it cannot)."""
    module, _, attr = p.value.partition(":")
    try:
        obj: Any = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is reported in one line
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise PluginLoadError(f"{p.group} {p.name!r}: cannot load {p.describe()} ({msg})") from None
    if not callable(obj):
        raise PluginLoadError(f"{p.group} {p.name!r}: {p.describe()} is not callable")
    return obj


def installed(groups: dict[str, str] | None = None) -> dict[str, list[Provider]]:
    """Contract -> its providers (sorted by name), for ``recast plugins``; duplicates are listed, not raised."""
    return {c: sorted(discover(g), key=lambda p: (p.name, p.dist)) for c, g in (groups or GROUPS).items()}
