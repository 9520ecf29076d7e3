"""One small name -> object registry, shared by datasets, networks and models."""

from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
    """Raised for a name that is not registered; the message lists the valid choices."""


def check_choices(kind: str, given: Iterable, valid: Iterable) -> None:
    """UnknownNameError naming every one of `given` that is not in `valid`, then the valid choices."""
    valid = list(valid)
    unknown = [name for name in given if name not in valid]
    if unknown:
        raise UnknownNameError(f"unknown {kind} {', '.join(map(repr, unknown))}; "
                               f"valid choices: {', '.join(map(str, valid))}")


class Registry(Generic[T]):
    """Maps names to objects; `register` is a decorator, `get` fails with the valid choices."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            doc = help or (getattr(obj, "__doc__", "") or "").strip().splitlines()[0:1]
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return obj

        return add

    def get(self, name: str) -> T:
        check_choices(self.kind, [name], sorted(self._items))
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def describe(self) -> dict[str, str]:
        return {n: self._help[n] for n in self.names()}

    def __contains__(self, name: str) -> bool:
        return name in self._items
