"""The README's recipes, each followed inside a test that touches no other file: adding a family,
a conformance check, a benchmark grid and a report section. Each registers its piece for the
duration of the test (``Registry.added``) and runs the ordinary command on it."""
import numpy as np
import pandas as pd

from evbench.cli import main
from evbench.catalogue import get_family
from evbench.peers import get_backend


def test_a_new_family_needs_only_its_structure_reference_and_catalogue_entry():
    """The README's "Adding a family": a structure, a reference, one catalogue entry (here all
    made inside the test, touching no other file); validation and the benchmarks then run it."""
    import jax.numpy as jnp
    import numpy as np

    from evbench import catalogue
    from evbench.harness import bench
    from evbench.harness.conformance import conformance
    from evbench.harness.profiles import ValidationProfile
    from evbench.ops.base import Connectivity

    class Diagonal(Connectivity):
        """A diagonal matrix: event i reaches output i."""

        _leaf_fields = ("weights",)

        def __init__(self, weights):
            self._set(weights=jnp.asarray(weights), shape=(len(weights), len(weights)))

        @property
        def dtype(self):
            return self.weights.dtype

        def _dense(self):
            return jnp.diag(self.weights)

        def _vecmat(self, S):
            return S * self.weights[None, :]

        def _matvec(self, S):
            return self.weights[:, None] * S

    def generate(n_rows, n_cols, p, seed, dtype):
        n = min(n_rows, n_cols)
        return Diagonal(np.random.default_rng(seed).standard_normal(n).astype(dtype))

    def materialise(conn, f):  # the reference: NumPy only
        w = np.asarray(conn.weights, np.float64)
        return np.diag(np.where(w != 0, f(w), 0.0))

    family = catalogue.Family("diagonal", "a diagonal matrix (test only)", generate, materialise,
                              event_driven="both", storage="diagonal")
    square = ValidationProfile(shapes=((1, 1), (7, 7)), conn_probs=(1.0,), actives=(0.0, 0.5, 1.0),
                               event_kinds=(("bool", "ones"), ("weight", "signed")), dtypes=("float64",), seeds=(0,),
                               design="covering", paths=False)
    grid = bench.Grid("t", n=(64,), n_large=(), active=(0.1,), conn_num=(64,), batch=(2,), dtype=("float32",),
                      devices=("cpu",), min_repeats=1, max_repeats=1, max_time=0.0, min_sample=0.0)
    with catalogue.FAMILIES.added(family):
        rows = conformance(["diagonal"], square, ["native", "dense", "scipy"], progress=False)
        records = bench.run(grid, families=["diagonal"], backends=["native"], products=["vecmat"], progress=False)
    assert "diagonal" not in catalogue.FAMILIES
    eq = rows[rows.check == "equivalence"]
    assert set(eq.family) == {"diagonal"} and set(eq.backend) == {"native", "dense", "scipy"}
    assert set(eq.status) == {"pass"} and (eq.cases > 0).all()
    assert [r["status"] for r in records] == ["ok"]


def _tiny_profile(name="recipe"):
    from evbench.harness.profiles import ValidationProfile

    return ValidationProfile(name=name, shapes=((1, 1), (12, 9)), conn_probs=(0.3,), actives=(0.0, 0.5),
                             event_kinds=(("bool", "ones"), ("weight", "signed")), dtypes=("float64",), seeds=(0,),
                             design="covering", paths=False)


def _finite(probe):
    """A check: the product of the probe events holds no NaN or infinity."""
    from evbench.harness.checks import CheckOutcome, probe_events

    out = np.asarray(probe.impl.run(probe_events(probe.product, probe.shape, probe.dtype)))
    ok = bool(np.isfinite(out).all())
    return CheckOutcome("pass" if ok else "FAIL", 1, 0 if ok else 1,
                        detail="every output finite" if ok else "an output is not finite")


def test_a_new_check_needs_only_its_registration(tmp_path, capsys):
    """The README's "Adding a check": one ``Check`` in the registry; ``evbench validate`` runs it on
    every backend mode and product it applies to, and the tables get its column."""
    from evbench.harness.checks import CHECKS, Check
    from evbench.harness.profiles import VALIDATION_PROFILES
    from evbench.harness.results import TABLES, read_table

    finite = Check("finite", "every output of the product is finite", run=_finite,
                   applies=lambda product: not product.batched)
    with CHECKS.added(finite), VALIDATION_PROFILES.added(_tiny_profile()):
        assert "finite" in TABLES.get("validate").columns
        code = main(["validate", "--family", "csr", "--backend", "native", "--backend", "dense", "--profile",
                     "recipe", "--jobs", "1", "--no-progress", "--into", str(tmp_path)])
        out = capsys.readouterr().out
        (table,) = tmp_path.glob("validate-recipe-*.csv")
        validate = read_table(table)
        checks = read_table(next(tmp_path.glob("checks-recipe-*.csv")))
    assert "finite" not in CHECKS and "finite" not in TABLES.get("validate").columns
    assert code == 0
    assert "finite" in out.splitlines()[0]  # a column of the printed table
    assert set(validate.loc[~validate["product"].str.contains(r"\[b|b\]"), "finite"]) == {"pass"}
    assert set(validate.loc[validate["product"].str.contains(r"\[b|b\]"), "finite"]) == {"-"}  # batched: not applied
    rows = checks[checks.check == "finite"]
    modes = len(get_backend("native").modes(get_family("csr"))) + 1  # native's modes and dense's one
    assert len(rows) == modes * 4 and set(rows.status) == {"pass"}  # every mode × the four unbatched products


def test_a_failing_new_check_fails_the_gate(tmp_path, capsys):
    from evbench.harness.checks import CHECKS, Check, CheckOutcome
    from evbench.harness.profiles import VALIDATION_PROFILES

    never = Check("never", "always fails (a planted defect)",
                  run=lambda probe: CheckOutcome("FAIL", 1, 1, detail="planted"))
    with CHECKS.added(never), VALIDATION_PROFILES.added(_tiny_profile()):
        code = main(["validate", "--family", "dense", "--backend", "native", "--profile", "recipe", "--jobs", "1",
                     "--no-progress", "--into", str(tmp_path)])
    assert code == 1
    assert "FAIL dense events @ M native never: planted" in capsys.readouterr().out


def test_a_new_grid_needs_only_its_registration(tmp_path):
    """The README's "Adding a grid": one ``Grid`` in the registry; ``evbench bench --grid`` runs it."""
    from evbench.harness.bench import GRIDS, Grid
    from evbench.harness.results import read_table

    grid = Grid("recipe", n=(48, 96), n_large=(), active=(0.1,), conn_num=(8,), batch=(2,), dtype=("float32",),
                devices=("cpu",), min_repeats=1, max_repeats=1, max_time=0.0, min_sample=0.0)
    with GRIDS.added(grid):
        code = main(["bench", "--grid", "recipe", "--family", "csr", "--backend", "native", "--product", "vecmat",
                     "--device", "cpu", "--no-progress", "--into", str(tmp_path)])
    assert "recipe" not in GRIDS
    assert code == 0
    table = read_table(next(tmp_path.glob("bench-recipe-*.csv")))
    assert sorted(set(table.n)) == [48, 96] and set(table.status) == {"ok"} and set(table.conn_num) == {8}


def test_a_new_report_section_needs_only_its_module(tmp_path):
    """The README's "Adding a report section": a ``SectionSpec`` with its ``draw``, registered
    where the page should show it."""
    from evbench.harness import report
    from evbench.harness.report import SECTIONS, Section, SectionSpec
    from tests.test_report import write_validation

    def draw(res):
        sec = Section("recipe", "Rows per backend")
        sec.tables.append(("Validation rows per backend",
                           res.validate.groupby("backend").size().rename("rows").reset_index()))
        return sec

    write_validation(tmp_path)
    with SECTIONS.added(SectionSpec("recipe", "Rows per backend", ("validate",), draw), before="machine"):
        rep = report.build([tmp_path], tmp_path / "out")
    assert "recipe" not in SECTIONS
    keys = [s.key for s in rep.sections]
    assert keys.index("recipe") == keys.index("machine") - 1
    (title, table), = {s.key: s for s in rep.sections}["recipe"].tables
    assert isinstance(table, pd.DataFrame) and table.rows.sum() == len(pd.read_csv(next(tmp_path.glob("validate-*.csv"))))
    assert "Rows per backend" in rep.html.read_text() and "Rows per backend" in rep.markdown.read_text()
