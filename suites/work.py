"""Compile time, synaptic events/s and GB/s of every product (:mod:`evbench.asv_suites.work`)."""
from evbench.asv_suites import work

from ._sweep import SELECTION

globals().update(work.classes(SELECTION))
