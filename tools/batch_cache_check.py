"""A batch's time per sample against the vector product timed two
ways, in one process: repeating the same events (what the benchmarks do: the active rows stay
in the cache between calls) and with new events at every call (as in a simulation).

    flock /tmp/evbench-bench.lock env PYTHONPATH=. python tools/batch_cache_check.py

Prints one line per case (family, n, connection probability; batch 64, 1 % active).
"""
from __future__ import annotations

import time

import numpy as np

CASES = (("csc", 10_000, 0.01), ("csr", 10_000, 0.1), ("fixed_per_post", 100_000, 0.01), ("csr", 100_000, 0.01))
BATCH, ACTIVE = 64, 0.01


def _median_s(fn, repeats: int = 9) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> int:
    import jax
    import jax.numpy as jnp

    from evbench.catalogue import get_family, get_product
    from evbench.events import make_events

    for name, n, p in CASES:
        fam = get_family(name)
        M = fam.build(n, n, conn_prob=p, seed=1, dtype="float32")
        key = "matvec" if fam.event_driven == "cols" else "vecmat"
        vector, batched = get_product(key), get_product(key + "_batch")
        samples = make_events(n, ACTIVE, seed=2, batch=BATCH)
        vecs = [jnp.asarray(samples[k]) for k in range(BATCH)]
        batch = jnp.asarray(batched.events_from_samples(samples))
        fv = jax.jit(vector.run)
        fb = jax.jit(batched.run)
        for v in vecs:
            jax.block_until_ready(fv(M, v))
        jax.block_until_ready(fb(M, batch))

        def same():
            for _ in range(BATCH):
                jax.block_until_ready(fv(M, vecs[0]))

        def new():
            for v in vecs:
                jax.block_until_ready(fv(M, v))

        def whole():
            jax.block_until_ready(fb(M, batch))

        s, r, b = (_median_s(f) / BATCH * 1e3 for f in (same, new, whole))
        print(f"{name} n={n} p={p} batch={BATCH}: vector, same events {s:.4f} ms; vector, new events {r:.4f} ms; "
              f"batch per sample {b:.4f} ms; batch / same {b / s:.2f}, batch / new {b / r:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
