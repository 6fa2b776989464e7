"""evbench's pytest plugin: a library runs evbench's conformance checks on its own backend inside
its own test suite, as ordinary tests.

    pytest --evbench-backend NAME [--evbench-family F ...] [--evbench-profile quick|thorough]
           [--evbench-xfails FILE] [--evbench-examples N]

adds one test per family × product × backend mode × check (the ``statistics`` check once per
matrix the backend draws) to the session: ``equivalence`` runs the profile's cases (those of
``evbench validate``) and then hypothesis-drawn cases (:mod:`evbench.testing.strategies`); the
other checks are evbench's. A failure shows the error, the tolerance, the smallest failing case
and a snippet that reproduces it; a combination the backend does not offer is skipped with its
reason; a backend that does not load fails. Known defects are declared by the library, as
expected failures: ``--evbench-xfails FILE`` (one test id or glob per line, ``# reason`` after it;
strict: a listed test that passes fails, so the list stays true), or a ``pytest.mark.xfail``
added in the library's own ``pytest_collection_modifyitems``. Test ids read
``test_evbench[<backend>-<family>-<mode>-<product>-<check>]`` (``<mode>``: ``default`` for a backend without modes).

Installed with evbench (entry point ``pytest11``); it does nothing unless ``--evbench-backend``
is given, and imports nothing heavy before that.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

#: the module whose one test is parametrised over the conformance checks
TEST_MODULE = Path(__file__).with_name("conformance_tests.py")


def pytest_addoption(parser):
    group = parser.getgroup("evbench", "evbench conformance checks of a backend")
    group.addoption("--evbench-backend", action="append", default=[], metavar="NAME",
                    help="run evbench's conformance checks on this backend (repeatable; a name registered "
                         "through the evbench.backends entry points or EVBENCH_BACKENDS)")
    group.addoption("--evbench-family", action="append", default=[], metavar="FAMILY",
                    help="only this family (repeatable; default: every family)")
    group.addoption("--evbench-profile", default="quick", choices=("quick", "thorough"),
                    help="evbench's validation profile (default: quick)")
    group.addoption("--evbench-xfails", metavar="FILE", default=None,
                    help="known defects: a test id (or glob) per line, '# reason' after it; expected to fail")
    group.addoption("--evbench-examples", type=int, default=None, metavar="N",
                    help="hypothesis-drawn cases per equivalence test (default: 10 quick, 100 thorough)")


def pytest_configure(config):
    config.addinivalue_line("markers", "evbench: one of evbench's conformance checks")
    if config.getoption("evbench_backend"):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 cases: evbench validates in both precisions
        if str(TEST_MODULE) not in config.args:
            config.args.append(str(TEST_MODULE))


def read_xfails(path) -> list[tuple[str, str]]:
    """``(pattern, reason)`` of every line of an xfails file (blank lines and ``#`` comments skipped)."""
    out = []
    for line in Path(path).read_text().splitlines():
        pattern, _, reason = line.partition("#")
        if pattern.strip():
            out.append((pattern.strip(), reason.strip() or "a known defect (listed in the xfails file)"))
    return out


def pytest_collection_modifyitems(config, items):
    path = config.getoption("evbench_xfails")
    if not path or not config.getoption("evbench_backend"):
        return
    import pytest

    listed = read_xfails(path)
    used = set()
    for item in items:
        if item.get_closest_marker("evbench") is None:
            continue
        ident = item.callspec.id if hasattr(item, "callspec") else item.name
        for pattern, reason in listed:
            if fnmatch.fnmatchcase(ident, pattern) or fnmatch.fnmatchcase(item.nodeid, pattern):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
                used.add(pattern)
                break
    for pattern, _ in listed:
        if pattern not in used:
            import warnings

            warnings.warn(pytest.PytestWarning(f"--evbench-xfails: {pattern!r} matches no evbench test: stale?"))
