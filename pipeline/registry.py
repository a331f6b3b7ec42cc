"""A tiny typed registry: backends register by name, the engine looks them up.

Adding a backend never edits the engine: a module calls ``REG.register("name")``
on a factory, and the engine asks ``REG.create("name", ...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from recast.pipeline.errors import RecastError

T = TypeVar("T")


class UnknownBackend(RecastError):
    """Asked for a backend name nobody registered."""


class Registry(Generic[T]):
    def __init__(self, kind: str, builtin_modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._builtin_modules = builtin_modules
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return deco

    def _load_builtins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for mod in self._builtin_modules:
            importlib.import_module(mod)

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        self._load_builtins()
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownBackend(
                f"unknown {self.kind} backend {name!r}; known: {', '.join(self.names()) or 'none'}"
            ) from None

    def create(self, name: str, *args: object, **kwargs: object) -> T:
        return self.get(name)(*args, **kwargs)
