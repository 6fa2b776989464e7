"""pytest-benchmark settings of the suite: what a saved run records beside pytest-benchmark's own
``machine_info`` (evbench's machine label and the versions and devices ``evbench bench``
records), so that ``evbench report`` puts the same machine and versions on its page."""


def pytest_benchmark_update_machine_info(config, machine_info):
    from evbench.harness.bench import versions
    from evbench.harness.results import machine_label

    machine_info["evbench"] = dict(machine=machine_label(), **versions())
