"""The machine's limits (:mod:`evbench.asv_suites.machine`)."""
from evbench.asv_suites import machine

globals().update(machine.classes())
