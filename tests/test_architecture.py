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


#: the longest a function may be; a function allowed past it (a compiled hot loop) says why here
MAX_FUNCTION_LINES = 80
LONGER_FUNCTIONS: dict = {
    # "path:function": lines, with the reason (none today: SparseProp's compiled event loops share
    # their blocks through inlined helpers and stay under the limit)
}


def _python_files():
    for folder in ("evbench", "suites", "tools"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_function_is_overlong():
    long = {}
    for path in _python_files():
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > LONGER_FUNCTIONS.get(f"{rel}:{node.name}", MAX_FUNCTION_LINES):
                    long[f"{rel}:{node.name}"] = n
    assert long == {}


def test_no_class_name_is_defined_twice():
    """One name per concept: a class name means one thing across the package."""
    where: dict = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}


def _registries() -> dict:
    from evbench.catalogue import FAMILIES, PRODUCT_REGISTRY
    from evbench.harness.bench import GRIDS
    from evbench.harness.checks import CHECKS
    from evbench.harness.profiles import VALIDATION_PROFILES
    from evbench.harness.report import SECTIONS
    from evbench.harness.results import TABLES
    from evbench.harness.spiketimes import SPIKETIME_PROFILES
    from evbench.peers import BACKENDS

    return {r.plural: r.names() for r in (FAMILIES, PRODUCT_REGISTRY, BACKENDS, CHECKS, GRIDS, VALIDATION_PROFILES,
                                          SPIKETIME_PROFILES, TABLES, SECTIONS)}


def _literal_copies(text: str, registries: dict) -> list:
    """Literal tuples, lists and sets of ``text`` that hold most names of a registry (at least
    three, and 80 %): a second declaration of that list."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            names = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            for what, registered in registries.items():
                hit = names & set(registered)
                if len(hit) >= 3 and len(hit) >= 0.8 * len(registered):
                    out.append((node.lineno, what, sorted(hit)))
    return out


def test_each_list_is_declared_once():
    """Families, products, backends, checks, grids, profiles, tables and report sections are each
    declared in their registry; nothing else spells out their names as a list."""
    registries = _registries()
    copies = {}
    for path in _python_files():
        found = _literal_copies(path.read_text(), registries)
        if found:
            copies[str(path.relative_to(ROOT))] = found
    assert copies == {}


def test_the_list_finder_finds_a_second_list():
    registries = {"checks": ("equivalence", "semantics", "transpose", "batch", "jit")}
    assert _literal_copies('COLS = ("equivalence", "semantics", "transpose", "batch")', registries) == [
        (1, "checks", ["batch", "equivalence", "semantics", "transpose"])]
    assert _literal_copies('SOME = ("equivalence", "batch")', registries) == []
