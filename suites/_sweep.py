"""The selection of evbench's own asv history: every backend, family and product over the grid
``$EVBENCH_GRID`` (default ``asv``), narrowed by ``EVBENCH_FAMILY``, ``EVBENCH_BACKEND`` and
``EVBENCH_PRODUCT`` (comma-separated names). The suites themselves live in the package
(:mod:`evbench.asv_suites`: a library's benchmark folder imports the same ones, see README
"Tracking your library's commits"); the versions, devices, the machine's bandwidth and the
sweep's whole table go to ``results/asv-meta/<machine>/``, beside asv's results.
"""
from pathlib import Path

from evbench.asv_suites import Selection

#: versions, devices and the sweep's table go here, beside asv's results (results/asv)
SIDECAR = Path(__file__).resolve().parents[1] / "results" / "asv-meta"

SELECTION = Selection.from_environment(sidecar=SIDECAR)
