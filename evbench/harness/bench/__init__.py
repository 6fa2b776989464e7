"""Benchmarks of every catalogue operator: the grid of cases, and the runner behind ``evbench
bench``, shared by the asv suites in ``suites/``.

* :mod:`.grid`: the sweeps (:data:`GRIDS`, :class:`Grid`), the cases (:func:`cases`), devices;
* :mod:`.memory`: whether a case fits (:func:`check_memory`), device memory, bytes held;
* :mod:`.structures`: the structure cache and the prepared product reused across cases;
* :mod:`.measure`: a case prepared (:func:`prepare`) and timed (:func:`measure`), work figures;
* :mod:`.runner`: the whole grid (:func:`run`), the table (:func:`tidy`), the command;
* :mod:`.asv`: the suites' shared sweep (:func:`asv_sweep`) and sidecar.
"""
from .asv import asv_sweep, sweep_record, write_sidecar
from .grid import (
    ASV_GRID, DEFAULT_GRID, DEVICE_KINDS, GRIDS, PARAM_NAMES, ROTATE, SUITE_VERSION, WORKLOADS, BenchCase,
    Grid, Skipped, case_from_params, cases, device_for, env_filter, grid, present_devices, selection, suite_params,
)
from .measure import (
    CompileClock, Measurement, Prepared, configure_process, measure, measure_case, prepare, read_bandwidth, record,
    versions, warm_up,
)
from .memory import Footprint, available_host_bytes, check_memory, device_memory, footprint, nbytes
from .runner import CASE_COLUMNS, TIDY_COLUMNS, BenchOptions, BenchOutcome, resolve_options, run, run_command, summary, tidy
from .structures import Reuse, Structures, request_for

__all__ = [
    "ASV_GRID", "CASE_COLUMNS", "DEFAULT_GRID", "DEVICE_KINDS", "GRIDS", "PARAM_NAMES", "ROTATE",
    "SUITE_VERSION", "TIDY_COLUMNS", "WORKLOADS", "BenchCase", "CompileClock", "Footprint", "Grid", "Measurement",
    "BenchOptions", "BenchOutcome", "Prepared", "Reuse", "Skipped", "Structures", "asv_sweep", "available_host_bytes",
    "case_from_params", "cases", "check_memory", "configure_process", "device_for", "device_memory", "env_filter",
    "footprint", "grid", "measure", "measure_case", "nbytes", "prepare", "present_devices", "read_bandwidth",
    "record", "request_for", "resolve_options", "run", "run_command", "selection", "suite_params", "summary", "sweep_record", "tidy",
    "versions", "warm_up", "write_sidecar",
]
