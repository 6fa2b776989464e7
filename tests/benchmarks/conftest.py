"""pytest-benchmark settings of the suite.

* The ordinary run (``--benchmark-skip`` in the default options, no ``--benchmark-only``)
  deselects the suite's benchmarks instead of skipping them one by one: under ``-n 2`` some
  1,600 skipped items cost seconds of dispatch and reports, deselected ones nothing beyond their
  collection.
* A saved run records, beside pytest-benchmark's own ``machine_info``, evbench's machine label
  and the versions and devices ``evbench bench`` records, so that ``evbench report`` puts the
  same machine and versions on its page.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if not config.getoption("benchmark_skip", False) or config.getoption("benchmark_only", False):
        return
    keep, drop = [], []
    for item in items:
        ours = "benchmark" in getattr(item, "fixturenames", ()) and HERE in Path(str(item.path)).resolve().parents
        (drop if ours else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_benchmark_update_machine_info(config, machine_info):
    from evbench.harness.bench import versions
    from evbench.harness.results import machine_label

    machine_info["evbench"] = dict(machine=machine_label(), **versions())
