"""Host and device memory of every family × backend (:mod:`evbench.asv_suites.memory`)."""
from evbench.asv_suites import memory

from ._sweep import SELECTION

globals().update(memory.classes(SELECTION))
