"""evbench's asv suites, importable from the installed package: for evbench's own history
(the repository's ``suites/``) and for a library's (``evbench asv init`` writes a benchmark
folder that imports them for the library's backends).

A :class:`Selection` says what a benchmark folder measures: the backends (a library's own, and
evbench's to compare with), the families, the products, the grid and the device kinds. Each
suite module (:mod:`.products`, :mod:`.work`, :mod:`.memory`, :mod:`.machine`) gives its
classes for a selection (``classes(selection)``); a benchmark module puts them in its namespace,
where asv finds them::

    from evbench.asv_suites import Selection, products
    SELECTION = Selection(backends=("mylib", "native"), families=("csr",), grid="asv")
    globals().update(products.classes(SELECTION))

Every class of every module shares one ``setup_cache`` (:class:`.sweep.Sweep`): asv runs the
whole selection once per run, in one process, and the benchmarks read or re-time its cases.
One benchmark folder holds one selection.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..harness.bench.grid import ASV_GRID, GRIDS, Grid, env_filter, suite_params


def _names(value) -> tuple:
    return tuple(value) if value else ()


@dataclass(frozen=True)
class Selection:
    """What a benchmark folder measures (empty: every one; ``devices`` empty: the grid's)."""

    backends: tuple = ()
    families: tuple = ()
    products: tuple = ()
    grid: str = ASV_GRID
    devices: tuple = ()
    #: where the sweep's own table and the versions go, beside asv's results (None: nowhere)
    sidecar: str | None = None

    def __post_init__(self):
        for name in ("backends", "families", "products", "devices"):
            object.__setattr__(self, name, _names(getattr(self, name)))

    @classmethod
    def from_environment(cls, sidecar=None) -> "Selection":
        """evbench's own suites: ``EVBENCH_GRID`` (default ``asv``), and ``EVBENCH_FAMILY``,
        ``EVBENCH_BACKEND``, ``EVBENCH_PRODUCT`` (comma-separated) narrowing it."""
        return cls(_names(env_filter("EVBENCH_BACKEND")), _names(env_filter("EVBENCH_FAMILY")),
                   _names(env_filter("EVBENCH_PRODUCT")), os.environ.get("EVBENCH_GRID") or ASV_GRID,
                   sidecar=None if sidecar is None else str(sidecar))

    @property
    def the_grid(self) -> Grid:
        return GRIDS.get(self.grid)

    def params(self, product) -> list[list]:
        """asv ``params`` of the class of ``product`` (a :class:`~evbench.catalogue.Product`)."""
        return suite_params(self.the_grid, product, families=self.families or None,
                                  backends=self.backends or None, devices=self.devices or None)

    def selects(self, product_key: str) -> bool:
        return not self.products or product_key in self.products


__all__ = ["Selection"]
