"""``evbench catalogue``: everything a command can be asked for by name, read from the
registries: the families and their products, the backends (with where each comes from and
whether it imports here), the conformance checks, the benchmark grids and the profiles."""
from __future__ import annotations

from dataclasses import dataclass, field

#: what the command can list (``--list``), in the order it prints them
PARTS = ("families", "backends", "checks", "grids", "profiles")


@dataclass
class CatalogueOptions:
    """``evbench catalogue``: which parts to list (none: every one)."""

    parts: list = field(default_factory=list)


@dataclass
class CatalogueOutcome:
    code: int
    tables: dict

    @property
    def result(self) -> str:
        return ", ".join(f"{len(t)} {name}" for name, t in self.tables.items())


def families_table():
    import pandas as pd

    from ..catalogue import FAMILIES, PRODUCTS

    return pd.DataFrame([dict(
        family=fam.name, structure=fam.title,
        products=", ".join(p.expr + ("*" if fam.event_driven_for(p) else "") for p in PRODUCTS),
        options="; ".join(f"{k}={'|'.join(map(str, v))}" for k, v in fam.options.items()) or "-",
        peers="; ".join(f"{k}: {v}" for k, v in fam.peers.items())) for fam in FAMILIES.all()])


def backends_table():
    import pandas as pd

    from ..peers import BACKENDS, origin

    rows = []
    for b in BACKENDS.all():
        ok, versions = b.available()
        rows.append(dict(backend=b.name, role=b.role, available="yes" if ok else "missing",
                         versions=versions, origin=origin(b.name).describe(),
                         title=b.title))
    return pd.DataFrame(rows)


def checks_table():
    import pandas as pd

    from .checks import CHECKS

    return pd.DataFrame([dict(check=c.name, runs_on={"cases": "every case", "probe": "the probe structure",
                                                     "drawn": "drawn matrices"}[c.kind],
                              description=c.description) for c in CHECKS.all()])


def grids_table():
    import pandas as pd

    from .bench import GRIDS

    return pd.DataFrame([dict(grid=g.name, n=" ".join(map(str, g.sizes())), active=" ".join(f"{a:g}" for a in g.active),
                              connections=" ".join(map(str, g.conn_num)) or
                              "p = " + " ".join(f"{p:g}" for p in g.conn_prob),
                              batch=" ".join(map(str, g.batch)), dtype=" ".join(g.dtype), workload=g.workload)
                         for g in GRIDS.all()])


def profiles_table():
    import pandas as pd

    from .profiles import VALIDATION_PROFILES
    from .spiketimes import SPIKETIME_PROFILES

    rows = [dict(profile=p.name, command="evbench validate", sizes=" ".join(f"{a}x{b}" for a, b in p.shapes))
            for p in VALIDATION_PROFILES.all()]
    rows += [dict(profile=p.name, command="evbench spiketimes", sizes=f"N = {p.exact_n} (exact), "
                  f"up to {max(p.scale_ns)} (scaling)") for p in SPIKETIME_PROFILES.all()]
    return pd.DataFrame(rows)


_MAKERS = dict(families=families_table, backends=backends_table, checks=checks_table, grids=grids_table,
               profiles=profiles_table)


def run_command(options: CatalogueOptions) -> CatalogueOutcome:
    from ..registry import ALL
    from .console import fixed_width
    from .results import UsageError

    unknown = [p for p in options.parts if p not in PARTS and p != ALL]
    if unknown:
        raise UsageError(f"unknown part {unknown[0]!r}; valid: {', '.join(PARTS)}, {ALL}")
    parts = [p for p in PARTS if not options.parts or ALL in options.parts or p in options.parts]
    tables = {name: _MAKERS[name]() for name in parts}
    for name, frame in tables.items():
        print(f"== {name}")
        if name == "families":
            print(fixed_width(frame, ["family", "structure", "options", "peers"]) + "\n")
            print(fixed_width(frame, ["family", "products"]))
            print("* event-driven: costs O(active inputs), not O(stored synapses). Every product has a native\n"
                  "  implementation in evbench/ and a NumPy float64 reference in reference/.")
        else:
            print(fixed_width(frame, list(frame.columns)))
        print()
    return CatalogueOutcome(0, tables)
