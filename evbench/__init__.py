"""evbench: is an event-driven operator right, how fast is it, and are its spikes exact?

The public API: connectivity structures, the catalogue that lists them, event generators.
"""
from .ops.base import Connectivity, Transposed, kernel_mode, use_kernels
from .ops.cpu.threads import get_threads, set_threads, threads
from .ops.dense import DenseMatrix
from .ops.fixed import FixedNumPerPost, FixedNumPerPre
from .ops.jitc import JITCNormalC, JITCNormalR, JITCScalarC, JITCScalarR, JITCUniformC, JITCUniformR
from .ops.shard import Sharded, device_mesh, shard
from .ops.sparse import COO, CSC, CSR
from .catalogue import FAMILIES, PRODUCTS, Family, Product, get_family, get_product
from .events import active_fraction, make_events

__version__ = "0.1.0"

__all__ = [
    "COO", "CSC", "CSR", "Connectivity", "DenseMatrix", "Family", "FixedNumPerPost", "FixedNumPerPre",
    "JITCNormalC", "JITCNormalR", "JITCScalarC", "JITCScalarR", "JITCUniformC", "JITCUniformR",
    "FAMILIES", "PRODUCTS", "Product", "Sharded", "Transposed", "active_fraction", "device_mesh", "get_family",
    "get_product", "get_threads", "kernel_mode", "make_events", "set_threads", "shard", "threads", "use_kernels",
]
