"""The validation engine: every check of :mod:`evbench.harness.checks` for every family ×
product × backend variant, on the cases of a profile (:mod:`evbench.harness.profiles`), as one
long row per check (:func:`conformance`); families run in parallel worker processes that die
with their parent.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd

from ..catalogue import PRODUCTS, families, get_family, get_product, select_families
from ..peers import Backend, backends, option_label, select_backends
from . import statcheck as _statcheck
from .cases import Built, Case
from .checks import (
    CHECKS, GRAD_PARTNER, TRANSPOSE_PARTNER, UNBATCHED, Outcome, Reference, check_batch, check_determinism,
    check_grad, check_jit, check_semantics, check_transpose, classify, compare_one, timed,
)
from .profiles import PROFILES, Profile, is_path_group, probes, profile_cases, structures

#: false-failure probability of all statistical checks of a run together
STAT_ALPHA = 1e-6
#: the label of the statistics rows in the product column
STRUCTURE = "(drawn matrix)"


def resolve_backends(names) -> list[Backend]:
    """Backends by name, in registry order (none, or ``"all"``: every registered one); an
    unknown name is a ValueError listing the valid ones."""
    return select_backends(names)


def snippet(case: Case, product, backend: str, option: dict) -> str:
    """Python that rebuilds a case and runs one backend variant on it."""
    text = case.snippet(product)
    if case.dtype == "float64":
        text = "import jax; jax.config.update('jax_enable_x64', True)\n" + text
    if backend == "native":
        return text
    args = "".join(f", {k}={v!r}" for k, v in option.items())
    request = f"Request({case.conn_prob!r}, {case.seed!r}, {case.variant!r})"
    text = text.replace("out = p.run(M, events)", "out_native = p.run(M, events)")
    return (text + "from evbench.peers import Request, get_backend\n"
            f"impl = get_backend({backend!r}).prepare(evbench.get_family({case.family!r}), M, p, {request}{args})\n"
            f"out = impl.run(events)   # {backend}\n")


class _Progress:
    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="validate", unit="check", leave=False)

    def update(self, n=1, text=None):
        if self.bar is not None:
            if text:
                self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _prepare(backend: Backend, fam, conn, product, option, case):
    """The implementation, or the exception that stands for it."""
    try:
        return backend.prepare(fam, conn, product, case.request, **option)
    except Exception as exc:  # reported per check
        return exc


def _device() -> str:
    """The platform the checks run on (``cpu``, ``gpu``...): determinism is a property of a
    backend on a device."""
    import jax

    platform = jax.devices()[0].platform
    return {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)


def _row(fam, product_expr, backend, option, check, out: Outcome, event_driven=None, note=""):
    return dict(family=fam.name, product=product_expr, backend=backend.name, option=option_label(option),
                device=_device(), check=check, status=out.status, cases=out.cases, failed=out.failed, max_error=out.max_error,
                tolerance=out.tolerance, worst_ratio=out.worst_ratio, detail=out.detail,
                failing_case=out.failing_case, reproduce=out.reproduce, seconds=round(out.seconds, 3),
                event_driven=event_driven, note=note)


class _Equivalence:
    """Equivalence results of one family × product × backend variant, accumulated over cases."""

    def __init__(self):
        self.cases = self.failed = self.unsupported = self.errors = 0
        self.worst = (0.0, 0.0, 0.0)
        self.smallest = None
        self.reason = ""
        self.seconds = 0.0
        self.note = ""

    def add(self, case, product, backend, option, impl, ref):
        t0 = time.perf_counter()
        try:
            if isinstance(impl, Exception):
                raise impl
            err, tol, ratio, ok = compare_one(impl, product, ref, case.events(product), case.dtype)
        except Exception as exc:
            status, why = classify(exc)
            self.seconds += time.perf_counter() - t0
            self.reason = self.reason or why
            if status == "unsupported":
                self.unsupported += 1
                return
            if status == "FAIL":  # ran, but its output is wrong in shape
                self.cases += 1
                self.failed += 1
                self.worst = (float("inf"), 0.0, float("inf"))
            else:
                self.errors += 1
            self._fail(case, product, backend, option)
            return
        self.seconds += time.perf_counter() - t0
        self.cases += 1
        self.note = self.note or impl.note
        if ratio >= self.worst[2]:
            self.worst = (err, tol, ratio)
        if not ok:
            self.failed += 1
            self._fail(case, product, backend, option)

    def _fail(self, case, product, backend, option):
        size = case.shape[0] * case.shape[1]
        if self.smallest is None or size < self.smallest[0]:
            self.smallest = (size, case.describe(), snippet(case, product, backend, option))

    def outcome(self) -> Outcome:
        if self.errors:
            status = "error"
        elif self.failed:
            status = "FAIL"
        elif self.cases == 0:
            status = "unsupported"
        else:
            status = "pass"
        detail = self.reason if status in ("error", "unsupported", "FAIL") else ""
        if status in ("pass", "FAIL") and self.unsupported:
            detail = f"{self.unsupported} cases unsupported: {self.reason}"
        if self.errors and self.cases:
            detail = f"{self.errors} cases raised, {self.cases} ran: {self.reason}"
        fail = self.smallest
        return Outcome(status, self.cases, self.failed + self.errors, *self.worst, detail=detail,
                       failing_case=fail[1] if fail else "", reproduce=fail[2] if fail else "",
                       seconds=self.seconds)


def _probe_checks(fam, backend, option, case, prep, impls, rows, bar):
    """Every single-structure check of one backend variant on the probe case."""
    def get(key):
        return impls[(backend.name, option_label(option), key)]

    for product in PRODUCTS:
        impl = get(product.key)
        ed = fam.event_driven_for(product)
        checks = ["semantics", "jit", "determinism"]
        if product.key in TRANSPOSE_PARTNER:
            checks.append("transpose")
        if product.key in UNBATCHED:
            checks.append("batch")
        if product.key in GRAD_PARTNER:
            checks.append("grad")
        for check in CHECKS:
            if check not in checks:
                continue
            bar.update(1, f"{fam.name} {backend.name} {check}")
            if isinstance(impl, Exception):
                status, why = classify(impl)
                rows.append(_row(fam, product.expr, backend, option, check, Outcome(status, detail=why), ed))
                continue
            ref = Reference(prep, impl)
            args = (case.shape, case.dtype)
            if check == "semantics":
                out = timed(check_semantics, impl, product, ref, *args)
            elif check == "jit":
                out = timed(check_jit, impl, product, ref, *args)
            elif check == "grad":
                out = timed(check_grad, impl, product, ref, *args)
            elif check in ("transpose", "batch"):
                # checked against a partner product (the transposed one, or the unbatched one)
                partner = get_product((TRANSPOSE_PARTNER if check == "transpose" else UNBATCHED)[product.key])
                other = get(partner.key)
                if isinstance(other, Exception):
                    status, why = classify(other)
                    out = Outcome(status, detail=f"{partner.expr}: {why}")
                else:
                    fn = check_transpose if check == "transpose" else check_batch
                    out = timed(fn, impl, other, product, partner, ref, *args)
            else:
                def determinism():
                    conn2 = case.build()
                    second = _prepare(backend, fam, conn2, product, option, case)
                    if isinstance(second, Exception):
                        raise second
                    other_seed = None
                    if impl.reference is not None:
                        c3 = Case(case.family, case.shape, case.conn_prob, case.seed + 1, case.dtype,
                                  case.event_dtype, case.values, case.active, variant=case.variant)
                        third = _prepare(backend, fam, c3.build(), product, option, c3)
                        other_seed = None if isinstance(third, Exception) else third
                    return check_determinism(impl, second, other_seed, product, *args)

                out = timed(determinism)
            out.failing_case = out.failing_case or (case.describe() if out.status in ("FAIL", "error") else "")
            rows.append(_row(fam, product.expr, backend, option, check, out, ed))


def _statistics(fam, backend, options, profile, alpha, rows, bar):
    """One statistics row per distinct generated structure (the backend's structure options)."""
    if backend.generate is None:
        return
    seen = []
    for option in options:
        sopt = {k: v for k, v in option.items() if k in backend.structure_options}
        if sopt in seen:
            continue
        seen.append(sopt)
        bar.update(1, f"{fam.name} {backend.name} statistics")
        t0 = time.perf_counter()
        tests = []
        try:
            for p in _statcheck.PROBS:
                g = backend.generate(fam, profile.stat_shape, p, 0, "float32", **sopt)
                a = alpha / (len(_statcheck.PROBS) + 1)
                if g.law == "bernoulli":
                    tests += _statcheck.bernoulli_tests(g.counts, p, a)
                else:
                    tests += [(f"p={p:g}: {what}", *rest) for what, *rest in
                              _statcheck.fixed_tests(g.counts, g.k, g.law[4:], g.multapses, a)]
                if p == _statcheck.WEIGHT_PROB:
                    tests += _statcheck.weight_tests(g.weights, g.weight_law, "float32", a)
        except Exception as exc:
            status, why = classify(exc)
            if status == "unsupported":
                continue  # the backend does not draw this family's matrix: nothing to check
            out = Outcome(status, detail=why)
        else:
            bad = [t for t in tests if not t[1]]
            worst = max((t for t in tests if t[3]), key=lambda t: t[2] / t[3], default=None)
            out = Outcome("FAIL" if bad else "pass", len(tests), len(bad),
                          worst[2] if worst else 0.0, worst[3] if worst else 0.0,
                          worst[2] / worst[3] if worst else 0.0,
                          detail="; ".join(t[0] for t in bad) if bad else
                          f"{len(tests)} tests over p in {_statcheck.PROBS}, {profile.stat_shape}, alpha {alpha:.1e}")
        out.seconds = time.perf_counter() - t0
        out.failing_case = "" if out.status == "pass" else f"{fam.name} {profile.stat_shape} seed=0 float32"
        rows.append(_row(fam, STRUCTURE, backend, sopt, "statistics", out))


def _plan(fams, prof, live, only):
    """Per family: its structures, probe cases and backend variants, and an estimate of the
    work (progress units)."""
    plan = []
    for fam in fams:
        groups = structures(profile_cases(fam, prof))
        probe_cases = probes(fam, groups, prof)
        opts = {b.name: [o for o in b.variants(fam) if only is None or only(b.name, o)] for b in live}
        n_var = sum(len(v) for v in opts.values())
        work = sum(len(c) for c in groups.values()) * n_var * len(PRODUCTS) + len(probe_cases) * n_var * 12
        n_stat = sum(1 for b in live if b.generate is not None for _ in opts[b.name])
        plan.append((fam, groups, probe_cases, opts, work + n_stat, n_stat))
    return plan


def _family_rows(fam, groups, probes, opts, sel, avail, live, prof, alpha, bar) -> list:
    """Every check of every backend variant on one family."""
    rows = []
    for b in sel:
        if not avail[b.name][0]:
            for option in b.variants(fam):
                for product in PRODUCTS:
                    rows.append(_row(fam, product.expr, b, option, "equivalence",
                                     Outcome("missing", detail=avail[b.name][1]), fam.event_driven_for(product)))
    acc = {(b.name, option_label(o), p.key): _Equivalence() for b in live for o in opts[b.name] for p in PRODUCTS}
    probe_keys = {(c.shape, c.conn_prob, c.seed, c.dtype, c.variant): c for c in probes}
    for key, cases in groups.items():
        prep = Built(cases[0])
        impls = {}
        # the path cases check evbench's own kernels: the native backend only
        backends_here = [b for b in live if b.role == "native"] if is_path_group(fam, key) else live
        for b in backends_here:
            for option in opts[b.name]:
                for product in PRODUCTS:
                    impl = _prepare(b, fam, prep.conn, product, option, cases[0])
                    impls[(b.name, option_label(option), product.key)] = impl
                    ref = Reference(prep, None if isinstance(impl, Exception) else impl)
                    eq = acc[(b.name, option_label(option), product.key)]
                    for case in cases:
                        eq.add(case, product, b.name, option, impl, ref)
                    bar.update(len(cases), f"{fam.name} {b.name}")
        if key in probe_keys:
            for b in live:
                for option in opts[b.name]:
                    _probe_checks(fam, b, option, probe_keys[key], prep, impls, rows, bar)
    for b in live:
        for option in opts[b.name]:
            for product in PRODUCTS:
                eq = acc[(b.name, option_label(option), product.key)]
                rows.append(_row(fam, product.expr, b, option, "equivalence", eq.outcome(),
                                 fam.event_driven_for(product), note=eq.note))
        _statistics(fam, b, opts[b.name], prof, alpha, rows, bar)
    return rows


def die_with_parent(parent: int) -> None:
    """End this (worker) process when its parent (pid ``parent``) ends, even by SIGKILL: the
    kernel's parent-death signal where Linux offers it, and a thread that watches the parent's
    pid everywhere; at once if the parent ended while this process was starting."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:  # not Linux: the watcher alone
        pass
    if os.getppid() != parent:  # the parent ended before the signal was armed
        os._exit(1)

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="evbench-parent-watch", daemon=True).start()


def _worker_init(x64: bool, parent: int):
    die_with_parent(parent)
    import jax

    jax.config.update("jax_enable_x64", x64)


def _worker(family_names, prof, backend_names, alpha) -> list:
    """One task of a parallel run: some families, in a fresh process."""
    sel = resolve_backends(backend_names)
    avail = {b.name: b.available() for b in sel}
    live = [b for b in sel if avail[b.name][0]]
    rows = []
    for fam, groups, probes, opts, _, _ in _plan([get_family(n) for n in family_names], prof, live, None):
        rows += _family_rows(fam, groups, probes, opts, sel, avail, live, prof, alpha, _Progress(0, False))
    return rows


def _tasks(plan) -> list[list]:
    """Families grouped so that a just-in-time family's row and column forms share a process
    (and its compiled kernels), heaviest first."""
    groups: dict = {}
    for fam, *_, work, _ in plan:
        key = (fam.storage, fam.weight_kind) if fam.storage == "jitc" else fam.name
        names, w = groups.get(key, ([], 0))
        groups[key] = (names + [fam.name], w + work)
    return [names for names, w in sorted(groups.values(), key=lambda g: -g[1])]


def conformance(family_names=None, profile="quick", backend_names=None,
                progress: bool = True, only=None, jobs: int = 1) -> pd.DataFrame:
    """Every check of every selected backend variant on every selected family × product:
    one row per family × product × backend × option × check (columns ``status``,
    ``cases``, ``failed``, ``max_error``, ``tolerance``, ``worst_ratio``, ``detail``,
    ``failing_case``, ``reproduce``, ``seconds``).

    Families and backends by name (none, or ``"all"``: every one). ``profile`` is a name in
    :data:`~evbench.harness.profiles.PROFILES` or a :class:`Profile`; ``only(backend_name,
    option) -> bool`` keeps some backend variants (all by default); ``jobs > 1`` checks
    families in that many fresh processes (the compilations, not the checks, take the time;
    backends registered at run time are not seen there, so ``only`` needs ``jobs=1``).
    """
    prof = profile if isinstance(profile, Profile) else PROFILES.get(profile)
    fams = select_families(family_names)
    sel = resolve_backends(backend_names)
    avail = {b.name: b.available() for b in sel}
    live = [b for b in sel if avail[b.name][0]]
    plan = _plan(fams, prof, live, only)
    alpha = STAT_ALPHA / max(sum(p[5] for p in plan), 1)
    bar = _Progress(sum(p[4] for p in plan), progress)
    rows = []
    tasks = _tasks(plan)
    if jobs > 1 and only is None and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        import jax

        work = {q[0].name: q[4] for q in plan}
        names = [b.name for b in sel]
        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_init,
                                 initargs=(bool(jax.config.jax_enable_x64), os.getpid())) as pool:
            futures = {pool.submit(_worker, task, prof, names, alpha): task for task in tasks}
            for fut in as_completed(futures):
                rows += fut.result()
                task = futures[fut]
                bar.update(sum(work[n] for n in task), " ".join(task))
    else:
        for fam, groups, probes, opts, _, _ in plan:
            rows += _family_rows(fam, groups, probes, opts, sel, avail, live, prof, alpha, bar)
    bar.close()
    return _order(pd.DataFrame(rows))


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by family (catalogue order), backend (registry order), option, product, check."""
    if frame.empty:
        return frame
    fam_rank = {f.name: i for i, f in enumerate(families())}
    be_rank = {b.name: i for i, b in enumerate(backends())}
    prod_rank = {p.expr: i for i, p in enumerate(PRODUCTS)}
    prod_rank[STRUCTURE] = len(PRODUCTS)
    check_rank = {c: i for i, c in enumerate(CHECKS)}
    key = pd.DataFrame({
        "f": frame.family.map(fam_rank), "b": frame.backend.map(be_rank),
        "o": frame.groupby(["family", "backend"], sort=False).option.transform(
            lambda s: pd.Series(pd.factorize(s)[0], index=s.index)),
        "p": frame["product"].map(prod_rank), "c": frame.check.map(check_rank)})
    order = key.sort_values(["f", "b", "o", "p", "c"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


