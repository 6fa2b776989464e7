"""The kernels on several threads (evbench/ops/cpu/threads.py): every product of every family with
a kernel gives bitwise the same outputs on 1, 2, 3 and 7 threads (each thread computes a share
of the outputs or samples, never a share of one output's sum), threads really start, and the
thread count follows EVBENCH_THREADS."""
import os
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

import evbench
from evbench.catalogue import FAMILIES, PRODUCTS, get_family, get_product
from evbench.events import make_events
from evbench.ops.base import cpu_kernels_available
from evbench.ops.cpu.threads import get_threads, min_work, threads

pytestmark = pytest.mark.skipif(not cpu_kernels_available()[0], reason="numba / the XLA FFI header unavailable")

KERNEL_FAMILIES = [f.name for f in FAMILIES.all() if f.storage != "coo"]


@pytest.mark.parametrize("name", KERNEL_FAMILIES)
def test_outputs_are_bitwise_the_same_on_any_number_of_threads(name):
    """Split from the first element of work on (``min_work(1)``), every product, bool and signed
    float events, a vector and a batch: the same bits on 1, 2, 3 and 7 threads, within the bound of
    the reference (rows longer than one just-in-time block: 1100 x 0.5)."""
    fam = get_family(name)
    for shape, p in (((300, 260), 0.2), ((64, 1100), 0.5)):
        M = fam.build(*shape, conn_prob=p, seed=3, dtype="float32")
        for product in PRODUCTS:
            for values, dtype in (("ones", "bool"), ("signed", "float32")):
                samples = make_events(product.n_inputs(M.shape), 0.3, seed=1, batch=9 if product.batched else 1,
                                      dtype=dtype, values=values)
                e = product.events_from_samples(samples)
                f = jax.jit(product.run)
                outs = []
                for n in (1, 2, 3, 7):
                    with threads(n), min_work(1):
                        outs.append(np.asarray(f(M, e)))
                for n, out in zip((2, 3, 7), outs[1:]):
                    assert np.array_equal(outs[0], out), f"{name} {product.expr} {dtype}: {n} threads differ"
                want = product.reference(fam.reference(M), e.astype(np.float64))
                assert np.allclose(outs[0], want, rtol=1e-4, atol=1e-4), f"{name} {product.expr} {dtype}"


def test_threads_start():
    """A call worth several parts runs on more than one thread (the process's thread count grows)."""
    M = get_family("jitc_normal_r").build(2000, 2000, conn_prob=0.2, seed=1)
    e = make_events(2000, 0.2, seed=2)
    f = jax.jit(get_product("matvec").run)
    jax.block_until_ready(f(M, e))
    seen, stop = [0], [False]

    def watch():
        while not stop[0]:
            seen[0] = max(seen[0], len(os.listdir("/proc/self/task")))
            time.sleep(1e-4)

    watcher = threading.Thread(target=watch)
    watcher.start()
    base = len(os.listdir("/proc/self/task"))
    try:
        with threads(3), min_work(1):
            for _ in range(20):
                jax.block_until_ready(f(M, e))
    finally:
        stop[0] = True
        watcher.join()
    assert seen[0] > base


def test_thread_count_setting():
    before = get_threads()
    with threads(3):
        assert evbench.get_threads() == 3
    assert get_threads() == before
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            evbench.set_threads(bad)


def test_thread_count_follows_the_environment():
    code = "import evbench; print(evbench.get_threads())"
    env = dict(os.environ, EVBENCH_THREADS="5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "5"
    env["EVBENCH_THREADS"] = "zero"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "EVBENCH_THREADS must be a positive integer" in bad.stderr
    env.pop("EVBENCH_THREADS")
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert default.stdout.strip() == str(len(os.sched_getaffinity(0)))
