"""The shape of the house: packages by concept, no import circle, no oversized module, private
modules kept private, and the suites in step with the catalogue."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "evbench"
#: the longest a module may be; a module allowed past it says why here
MAX_LINES = 600
LONGER = {
    # SparseProp's numba loops (LIF and QIF, the sequential and the summed rule) share their
    # tree and queue helpers, inlined into the hot loops; in separate modules numba's on-disk
    # cache does not see a change to a helper of another file and runs stale code (seen when the
    # summed loop was first written apart), and the inlining across modules costs speed; the
    # hot pulse loops are dispatched once per case (equal weights, refractoriness) and prefetch
    # the next batch, for speed
    "evbench/spiking/sparseprop.py": 1270,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str, modules: dict) -> set[str]:
    """Every evbench module ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` depends on the submodule; ``from mod import name`` on mod
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        else:
            continue
        for t in targets:
            if t in modules:
                out.add(t)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def _cycles(graph: dict) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    graph = _graph()
    assert len(graph) > 30  # the walk found the package
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_oversized():
    long = {}
    for name, path in _modules().items():
        rel = str(path.relative_to(ROOT))
        n = len(path.read_text().splitlines())
        if n > LONGER.get(rel, MAX_LINES):
            long[rel] = n
    assert long == {}


def test_private_modules_stay_in_their_package():
    """A module whose name starts with ``_`` is imported only from inside its own package."""
    modules = _modules()
    graph = _graph()
    bad = []
    for name, deps in graph.items():
        for dep in deps:
            leaf = dep.rsplit(".", 1)[-1]
            if leaf.startswith("_") and not leaf.startswith("__"):
                owner = dep.rsplit(".", 1)[0]
                if not (name == owner or name.startswith(owner + ".")):
                    bad.append(f"{name} imports {dep}")
    for folder in ("tests", "tools", "suites"):
        for path in (ROOT / folder).glob("*.py"):
            for dep in _imports(path, f"{folder}.{path.stem}", modules):
                if any(part.startswith("_") and not part.startswith("__") for part in dep.split(".")[1:]):
                    bad.append(f"{folder}/{path.name} imports {dep}")
    assert bad == []


def test_connectivity_is_an_abstract_base():
    from evbench import Connectivity

    class Incomplete(Connectivity):
        shape = (2, 2)

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_the_asv_suites_cover_the_catalogue_products():
    """The suite classes are written out (one per product, greppable); they must stay in step
    with the catalogue, which remains the one list of products."""
    import suites.products
    import suites.work
    from evbench.catalogue import PRODUCTS

    for module in (suites.products, suites.work):
        keys = sorted(getattr(module, name).product_key for name in dir(module)
                      if isinstance(getattr(module, name), type) and getattr(getattr(module, name), "params", None)
                      and getattr(getattr(module, name), "product_key", None))
        assert keys == sorted(p.key for p in PRODUCTS), module.__name__


def test_a_new_family_needs_only_its_structure_reference_and_catalogue_entry(monkeypatch, tmp_path):
    """The README's "Adding a family": a structure, a reference, one catalogue entry (here all
    made inside the test, touching no other file); validation and the benchmarks then run it."""
    import jax.numpy as jnp
    import numpy as np

    from evbench import catalogue
    from evbench.harness import bench
    from evbench.harness.conformance import conformance
    from evbench.harness.profiles import Profile
    from evbench.ops.base import Connectivity
    from evbench.registry import Registry

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

    families = Registry("family", plural="families")
    families.register(catalogue.Family("diagonal", "a diagonal matrix (test only)", generate, materialise,
                                       event_driven="both", storage="diagonal"))
    monkeypatch.setattr(catalogue, "FAMILIES", families)
    square = Profile(shapes=((1, 1), (7, 7)), conn_probs=(1.0,), actives=(0.0, 0.5, 1.0),
                     event_kinds=(("bool", "ones"), ("weight", "signed")), dtypes=("float64",), seeds=(0,),
                     design="covering", paths=False)
    rows = conformance(["diagonal"], square, ["native", "dense", "scipy"], progress=False)
    eq = rows[rows.check == "equivalence"]
    assert set(eq.family) == {"diagonal"} and set(eq.backend) == {"native", "dense", "scipy"}
    assert set(eq.status) == {"pass"} and (eq.cases > 0).all()
    grid = bench.Grid("t", n=(64,), n_large=(), active=(0.1,), conn_num=(64,), batch=(2,), dtype=("float32",),
                      devices=("cpu",), min_repeats=1, max_repeats=1, max_time=0.0, min_sample=0.0)
    records = bench.run(grid, families=["diagonal"], backends=["native"], products=["vecmat"], progress=False)
    assert [r["status"] for r in records] == ["ok"]
