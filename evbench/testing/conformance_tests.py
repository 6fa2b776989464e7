"""The conformance checks of the backends named by ``--evbench-backend``, as pytest tests.

Collected by evbench's pytest plugin (:mod:`evbench.testing.pytest_plugin`) when that option is
given; one test per family × product × backend mode × check. The checks of one backend on one
family run together, once, the first time one of their tests runs (``evbench validate``'s
engine, :func:`evbench.harness.conformance.conformance`); each test then reads its row, and the
``equivalence`` tests also draw cases with hypothesis.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

#: the product column of a check on the matrices a backend draws (statistics)
DRAWN = "drawn"


@dataclass(frozen=True)
class Planned:
    """One test: a check of one backend mode on one family and product."""

    backend: str
    family: str
    product: str
    check: str
    mode: dict = field(default_factory=dict, hash=False)

    @property
    def mode_text(self) -> str:
        from evbench.backend_api import mode_label

        return mode_label(self.mode)

    @property
    def id(self) -> str:
        return f"{self.backend}-{self.family}-{self.mode_text or 'default'}-{self.product}-{self.check}"


def planned(backend_names, family_names) -> list[Planned]:
    """Every test for these backends and families: the checks that apply to each product, and
    a statistics test per matrix a backend draws itself."""
    from evbench.catalogue import FAMILIES, PRODUCTS
    from evbench.harness.checks import CHECKS
    from evbench.peers import BACKENDS

    out = []
    for b in BACKENDS.select(backend_names):
        loaded = b.available()[0]
        for fam in FAMILIES.select(family_names or None):
            modes = b.modes(fam) if loaded else [{}]
            for mode in modes:
                for product in PRODUCTS:
                    out += [Planned(b.name, fam.name, product.key, c.name, dict(mode)) for c in CHECKS
                            if c.kind == "cases" or (c.kind == "probe" and c.applies(product))]
            if b.generate is not None and loaded:
                drawn = {tuple((k, v) for k, v in m.items() if k in b.matrix_modes) for m in modes}
                out += [Planned(b.name, fam.name, DRAWN, c.name, dict(m)) for m in sorted(drawn)
                        for c in CHECKS if c.kind == "drawn"]
    return out


def pytest_generate_tests(metafunc):
    if "evbench_check" not in metafunc.fixturenames:
        return
    config = metafunc.config
    try:
        tests = planned(config.getoption("evbench_backend"), config.getoption("evbench_family"))
    except ValueError as exc:  # an unknown backend or family name
        raise pytest.UsageError(f"evbench: {exc}") from None
    metafunc.parametrize("evbench_check", tests, ids=[t.id for t in tests])


class Runner:
    """The session's checks: each backend × family run once, on first use."""

    def __init__(self, profile: str, examples: int | None):
        self.profile = profile
        self.examples = examples if examples is not None else {"quick": 10, "thorough": 100}[profile]
        self._frames: dict = {}

    def rows(self, backend: str, family: str):
        from evbench.harness.conformance import conformance

        key = (backend, family)
        if key not in self._frames:
            self._frames[key] = conformance([family], self.profile, [backend], progress=False, jobs=1)
        return self._frames[key]

    def check(self, t: Planned) -> None:
        from evbench.catalogue import get_product
        from evbench.harness.conformance import STRUCTURE
        from evbench.peers import BACKENDS

        ok, why = BACKENDS.get(t.backend).available()
        if not ok:
            pytest.fail(f"backend {t.backend} is missing: {why}", pytrace=False)
        frame = self.rows(t.backend, t.family)
        expr = STRUCTURE if t.product == DRAWN else get_product(t.product).expr
        found = frame[(frame["product"] == expr) & (frame["check"] == t.check) & (frame["mode"] == t.mode_text)]
        if found.empty:
            pytest.skip(f"{t.backend} does not draw {t.family}'s matrix itself: nothing to check")
        row = found.iloc[0]
        if row.status in ("unsupported",):
            pytest.skip(f"unsupported: {row.detail}")
        if row.status not in ("pass", "differs"):
            pytest.fail(failure_text(row), pytrace=False)
        if t.check == "equivalence":
            drawn_equivalence(t, self.examples)


def failure_text(row) -> str:
    """What a failing check shows: the status and detail, the error and its tolerance, the
    smallest failing case and the snippet that reproduces it."""
    where = f"{row.backend}[{row['mode']}]" if row["mode"] else row.backend
    lines = [f"{row.status} {row.family} {row['product']} {where} {row.check}: {row.detail}"]
    if isinstance(row.tolerance, float) and row.tolerance > 0:
        lines.append(f"  {row.failed}/{row.cases} failing; max error {row.max_error:.3g}, tolerance "
                     f"{row.tolerance:.3g} (error/tolerance {row.worst_ratio:.3g})")
    if row.failing_case:
        lines.append(f"  smallest failing case: {row.failing_case}")
    if row.reproduce:
        lines.append("  reproduce with:\n    " + str(row.reproduce).rstrip().replace("\n", "\n    "))
    return "\n".join(lines)


def drawn_equivalence(t: Planned, examples: int) -> None:
    """The backend's product against the float64 reference on hypothesis-drawn cases."""
    from hypothesis import HealthCheck, Phase, given, reject, settings

    from evbench.backend_api import Unsupported
    from evbench.catalogue import get_family, get_product
    from evbench.harness.cases import Built
    from evbench.harness.checks import Reference, compare_one
    from evbench.harness.conformance import snippet
    from evbench.peers import BACKENDS
    from evbench.testing.strategies import cases

    backend, fam, product = BACKENDS.get(t.backend), get_family(t.family), get_product(t.product)

    # no shrinking: every example compiles, and the profile's rows already name the smallest
    # failing case of the grid
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.reuse, Phase.generate))
    @given(case=cases(fam))
    def equivalent(case):
        prep = Built(case)
        try:
            impl = backend.prepare(fam, prep.conn, product, case.request, **t.mode)
        except (Unsupported, NotImplementedError):
            reject()
        err, tol, ratio, ok = compare_one(impl, product, Reference(prep, impl), case.events(product), case.dtype)
        assert ok, (f"{product.expr} of {t.backend}[{t.mode_text}] on a drawn case: max error {err:.3g}, "
                    f"tolerance {tol:.3g} (error/tolerance {ratio:.3g})\n  case: {case.describe()}\n"
                    "  reproduce with:\n    " + snippet(case, product, t.backend, t.mode).rstrip().replace("\n", "\n    "))

    equivalent()


@pytest.fixture(scope="session")
def evbench_runner(request):
    return Runner(request.config.getoption("evbench_profile"), request.config.getoption("evbench_examples"))


@pytest.mark.evbench
def test_evbench(evbench_check, evbench_runner):
    evbench_runner.check(evbench_check)
