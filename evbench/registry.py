"""One small registry type for everything evbench lists by name: families, products, backends,
grids and profiles.

A :class:`Registry` keeps its items in registration order, refuses a name twice, and gives
every command the same selection rules: no names (or ``"all"`` among them) selects every item,
in registry order; an unknown name is a ``ValueError`` that lists the valid ones.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")

#: the name that selects every item of a registry
ALL = "all"


class Registry(Generic[T]):
    """Named items in registration order.

    ``what`` names an item in messages ("family", "backend"...); ``key`` gives an item's name.
    """

    def __init__(self, what: str, key: Callable[[T], str] = lambda item: item.name, plural: str | None = None):
        self.what = what
        self.plural = plural or (what[:-1] + "ies" if what.endswith("y") else what + "s")
        self._key = key
        self._items: dict[str, T] = {}

    def register(self, item: T, *, before: str | None = None) -> T:
        """Add ``item`` at the end, or just before the item called ``before``."""
        name = self._key(item)
        if name == ALL:
            raise ValueError(f"{self.what} name {ALL!r} is reserved: it selects every {self.what}")
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is already registered")
        if before is None:
            self._items[name] = item
            return item
        self.get(before)
        items = list(self._items.items())
        at = [k for k, _ in items].index(before)
        self._items = dict(items[:at] + [(name, item)] + items[at:])
        return item

    def unregister(self, name: str) -> T:
        """Remove the item called ``name`` and return it."""
        self.get(name)
        return self._items.pop(name)

    @contextlib.contextmanager
    def added(self, *items: T, before: str | None = None):
        """Register ``items`` for the duration of a ``with`` block (tests, recipes), then remove
        them again, whatever happens inside."""
        done = []
        try:
            for item in items:
                done.append(self._key(self.register(item, before=before)))
            yield items[0] if len(items) == 1 else items
        finally:
            for name in reversed(done):
                self._items.pop(name, None)

    def __iter__(self) -> Iterator[T]:
        return iter(tuple(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name) -> bool:
        return name in self._items

    def all(self) -> tuple[T, ...]:
        return tuple(self._items.values())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.what} {name!r}; valid {self.plural}: {', '.join(self._items)}") from None

    def select(self, names: Iterable[str] | None = None) -> list[T]:
        """The items called ``names`` in registry order; every item when ``names`` is empty or
        holds ``"all"``. A ``ValueError`` names the unknown ones and lists the valid names."""
        names = [names] if isinstance(names, str) else list(names or ())
        unknown = [n for n in names if n != ALL and n not in self._items]
        if unknown:
            what = self.what if len(unknown) == 1 else self.plural
            raise ValueError(f"unknown {what} {', '.join(map(repr, unknown))}; "
                             f"valid {self.plural}: {', '.join(self._items)}, {ALL}")
        if not names or ALL in names:
            return list(self._items.values())
        return [item for name, item in self._items.items() if name in names]

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._items)})"
