"""The validation engine: every check of :data:`evbench.harness.checks.CHECKS` for every
family × product × backend mode, on the cases of a profile (:mod:`evbench.harness.profiles`),
as one long row per check (:func:`conformance`); families run in parallel worker processes that
die with their parent.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import pandas as pd

from ..catalogue import FAMILIES, PRODUCTS, Family, get_product
from ..peers import BACKENDS, Backend, mode_label
from . import stattests
from .interrupts import checkpoint
from .cases import Built, Case
from .checks import CHECKS, CheckOutcome, Probe, Reference, classify, compare_one, timed
from .profiles import VALIDATION_PROFILES, ValidationProfile, is_path_group, probes, profile_cases, structures

#: false-failure probability of all statistical checks of a run together
STAT_ALPHA = 1e-6
#: the label of the statistics rows in the product column
STRUCTURE = "(drawn matrix)"


def snippet(case: Case, product, backend: str, mode: dict) -> str:
    """Python that rebuilds a case and runs one backend mode on it."""
    text = case.snippet(product)
    if case.dtype == "float64":
        text = "import jax; jax.config.update('jax_enable_x64', True)\n" + text
    if backend == "native":
        return text
    args = "".join(f", {k}={v!r}" for k, v in mode.items())
    request = f"Request({case.conn_prob!r}, {case.seed!r}, {dict(case.options)!r})"
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
        checkpoint()
        if self.bar is not None:
            if text:
                self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _prepare(backend: Backend, fam, conn, product, mode, case):
    """The implementation, or the exception that stands for it."""
    try:
        return backend.prepare(fam, conn, product, case.request, **mode)
    except Exception as exc:  # reported per check
        return exc


def _device() -> str:
    """The platform the checks run on (``cpu``, ``gpu``...): determinism is a property of a
    backend on a device."""
    import jax

    platform = jax.devices()[0].platform
    return {"cuda": "gpu", "rocm": "gpu"}.get(platform, platform)


def _row(fam, product_expr, backend, mode, check, out: CheckOutcome, event_driven=None, note=""):
    return dict(family=fam.name, product=product_expr, backend=backend.name, mode=mode_label(mode),
                device=_device(), check=check, status=out.status, cases=out.cases, failed=out.failed, max_error=out.max_error,
                tolerance=out.tolerance, worst_ratio=out.worst_ratio, detail=out.detail,
                failing_case=out.failing_case, reproduce=out.reproduce, seconds=round(out.seconds, 3),
                event_driven=event_driven, note=note)


class _Equivalence:
    """Equivalence results of one family × product × backend mode, accumulated over cases."""

    def __init__(self):
        self.cases = self.failed = self.unsupported = self.errors = 0
        self.worst = (0.0, 0.0, 0.0)
        self.smallest = None
        self.reason = ""
        self.seconds = 0.0
        self.note = ""

    def add(self, case, product, backend, mode, impl, ref):
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
            self._fail(case, product, backend, mode)
            return
        self.seconds += time.perf_counter() - t0
        self.cases += 1
        self.note = self.note or impl.note
        if ratio >= self.worst[2]:
            self.worst = (err, tol, ratio)
        if not ok:
            self.failed += 1
            self._fail(case, product, backend, mode)

    def _fail(self, case, product, backend, mode):
        size = case.shape[0] * case.shape[1]
        if self.smallest is None or size < self.smallest[0]:
            self.smallest = (size, case.describe(), snippet(case, product, backend, mode))

    def outcome(self) -> CheckOutcome:
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
        return CheckOutcome(status, self.cases, self.failed + self.errors, *self.worst, detail=detail,
                            failing_case=fail[1] if fail else "", reproduce=fail[2] if fail else "",
                            seconds=self.seconds)


@dataclass
class Session:
    """What every family of one validation run shares: the backends asked for and whether each
    imports, the profile, the false-failure budget of each statistical check, the progress bar."""

    selected: list
    available: dict
    profile: ValidationProfile
    alpha: float = 0.0
    bar: _Progress | None = None

    @classmethod
    def of(cls, backend_names, profile, **kw) -> "Session":
        selected = BACKENDS.select(backend_names)
        return cls(selected, {b.name: b.available() for b in selected}, profile, **kw)

    @property
    def live(self) -> list[Backend]:
        """The selected backends whose packages import."""
        return [b for b in self.selected if self.available[b.name][0]]


@dataclass
class FamilyPlan:
    """One family's share of a run: its structures (cases grouped by the structure they use),
    the probe cases of the single-structure checks, each live backend's modes, and the work in
    progress units (``n_stat`` of them statistical checks)."""

    family: Family
    groups: dict
    probes: list
    modes: dict
    work: int
    n_stat: int


def _probe_outcome(check, probe_case, prep, impls, fam, backend, mode, product) -> CheckOutcome:
    """One single-structure check of one backend mode on one product (its partner product's
    implementation from ``impls``, where the check compares against one)."""
    impl = impls[(backend.name, mode_label(mode), product.key)]
    if isinstance(impl, Exception):
        status, why = classify(impl)
        return CheckOutcome(status, detail=why)
    partner = partner_product = None
    if check.partner is not None:
        partner_product = get_product(check.partner(product))
        partner = impls[(backend.name, mode_label(mode), partner_product.key)]
        if isinstance(partner, Exception):
            status, why = classify(partner)
            return CheckOutcome(status, detail=f"{partner_product.expr}: {why}")

    def again(case, optional=False):
        got = _prepare(backend, fam, case.build(), product, mode, case)
        if isinstance(got, Exception):
            if optional:
                return None
            raise got
        return got

    out = timed(check.run, Probe(impl, product, Reference(prep, impl), probe_case, partner, partner_product, again))
    out.failing_case = out.failing_case or (probe_case.describe() if out.status in ("FAIL", "error") else "")
    return out


def _probe_checks(fam, backend, mode, probe_case, prep, impls, rows, bar):
    """Every single-structure check of one backend mode on the probe case."""
    for product in PRODUCTS:
        for check in CHECKS:
            if check.kind != "probe" or not check.applies(product):
                continue
            bar.update(1, f"{fam.name} {backend.name} {check.name}")
            out = _probe_outcome(check, probe_case, prep, impls, fam, backend, mode, product)
            rows.append(_row(fam, product.expr, backend, mode, check.name, out, fam.event_driven_for(product)))


def _statistics(fam, backend, modes, session: Session, rows):
    """One statistics row per distinct generated structure (the backend's matrix modes)."""
    if backend.generate is None:
        return
    seen = []
    for mode in modes:
        smode = {k: v for k, v in mode.items() if k in backend.matrix_modes}
        if smode in seen:
            continue
        seen.append(smode)
        session.bar.update(1, f"{fam.name} {backend.name} statistics")
        t0 = time.perf_counter()
        try:
            out = _drawn_outcome(fam, backend, smode, session)
        except Exception as exc:
            status, why = classify(exc)
            if status == "unsupported":
                continue  # the backend does not draw this family's matrix: nothing to check
            out = CheckOutcome(status, detail=why)
        out.seconds = time.perf_counter() - t0
        out.failing_case = "" if out.status == "pass" else f"{fam.name} {session.profile.stat_shape} seed=0 float32"
        rows.append(_row(fam, STRUCTURE, backend, smode, "statistics", out))


def _drawn_outcome(fam, backend, smode, session: Session) -> CheckOutcome:
    """The statistical tests of the matrices ``backend`` draws for ``fam`` at every tested
    probability, against the law it documents."""
    shape, alpha = session.profile.stat_shape, session.alpha
    tests = []
    for p in stattests.PROBS:
        g = backend.generate(fam, shape, p, 0, "float32", **smode)
        a = alpha / (len(stattests.PROBS) + 1)
        if g.law == "bernoulli":
            tests += stattests.bernoulli_tests(g.counts, p, a)
        else:
            tests += [(f"p={p:g}: {what}", *rest) for what, *rest in
                      stattests.fixed_tests(g.counts, g.k, g.law[4:], g.multapses, a)]
        if p == stattests.WEIGHT_PROB:
            tests += stattests.weight_tests(g.weights, g.weight_law, "float32", a)
    bad = [t for t in tests if not t[1]]
    worst = max((t for t in tests if t[3]), key=lambda t: t[2] / t[3], default=None)
    return CheckOutcome("FAIL" if bad else "pass", len(tests), len(bad),
                        worst[2] if worst else 0.0, worst[3] if worst else 0.0,
                        worst[2] / worst[3] if worst else 0.0,
                        detail="; ".join(t[0] for t in bad) if bad else
                        f"{len(tests)} tests over p in {stattests.PROBS}, {shape}, alpha {alpha:.1e}")


def _probe_units() -> int:
    """Single-structure checks per backend mode and probe case (progress units)."""
    return sum(1 for p in PRODUCTS for c in CHECKS if c.kind == "probe" and c.applies(p))


def _plan(fams, prof, live, only) -> list[FamilyPlan]:
    """Per family: its structures, probe cases and backend modes, and an estimate of the work."""
    plan = []
    for fam in fams:
        groups = structures(profile_cases(fam, prof))
        probe_cases = probes(fam, groups, prof)
        modes = {b.name: [m for m in b.modes(fam) if only is None or only(b.name, m)] for b in live}
        n_modes = sum(len(v) for v in modes.values())
        work = sum(len(c) for c in groups.values()) * n_modes * len(PRODUCTS) + len(probe_cases) * n_modes * _probe_units()
        n_stat = sum(1 for b in live if b.generate is not None for _ in modes[b.name])
        plan.append(FamilyPlan(fam, groups, probe_cases, modes, work + n_stat, n_stat))
    return plan


def _missing_rows(fam, session: Session) -> list:
    """One equivalence row per product of every mode of each backend whose package does not import."""
    rows = []
    for b in session.selected:
        if not session.available[b.name][0]:
            for mode in b.modes(fam):
                for product in PRODUCTS:
                    rows.append(_row(fam, product.expr, b, mode, "equivalence",
                                     CheckOutcome("missing", detail=session.available[b.name][1]),
                                     fam.event_driven_for(product)))
    return rows


def _family_rows(plan: FamilyPlan, session: Session) -> list:
    """Every check of every backend mode on one family."""
    fam, live, bar = plan.family, session.live, session.bar
    rows = _missing_rows(fam, session)
    acc = {(b.name, mode_label(m), p.key): _Equivalence() for b in live for m in plan.modes[b.name] for p in PRODUCTS}
    probe_keys = {(c.shape, c.conn_prob, c.seed, c.dtype, c.options): c for c in plan.probes}
    for key, cases in plan.groups.items():
        prep = Built(cases[0])
        impls = {}
        # the path cases check evbench's own kernels: the native backend only
        backends_here = [b for b in live if b.role == "native"] if is_path_group(fam, key) else live
        for b in backends_here:
            for mode in plan.modes[b.name]:
                for product in PRODUCTS:
                    impl = _prepare(b, fam, prep.conn, product, mode, cases[0])
                    impls[(b.name, mode_label(mode), product.key)] = impl
                    ref = Reference(prep, None if isinstance(impl, Exception) else impl)
                    eq = acc[(b.name, mode_label(mode), product.key)]
                    for case in cases:
                        eq.add(case, product, b.name, mode, impl, ref)
                    bar.update(len(cases), f"{fam.name} {b.name}")
        if key in probe_keys:
            for b in live:
                for mode in plan.modes[b.name]:
                    _probe_checks(fam, b, mode, probe_keys[key], prep, impls, rows, bar)
    for b in live:
        for mode in plan.modes[b.name]:
            for product in PRODUCTS:
                eq = acc[(b.name, mode_label(mode), product.key)]
                rows.append(_row(fam, product.expr, b, mode, "equivalence", eq.outcome(),
                                 fam.event_driven_for(product), note=eq.note))
        _statistics(fam, b, plan.modes[b.name], session, rows)
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


class Unseen(list):
    """What a fresh process does not find (a family, backend or check registered by code in the
    parent, not by an entry point or ``EVBENCH_BACKENDS``): the parent checks those itself."""


def _worker(family_names, prof, backend_names, check_names, alpha) -> list:
    """One task of a parallel run: some families, in a fresh process."""
    unseen = Unseen([f"family {n}" for n in family_names if n not in FAMILIES]
                    + [f"backend {n}" for n in backend_names if n not in BACKENDS]
                    + [f"check {n}" for n in check_names if n not in CHECKS])
    if unseen:
        return unseen
    session = Session.of(backend_names, prof, alpha=alpha, bar=_Progress(0, False))
    rows = []
    for plan in _plan(FAMILIES.select(family_names), prof, session.live, None):
        rows += _family_rows(plan, session)
    return rows


def _tasks(plan) -> list[list]:
    """Families grouped so that a just-in-time family's row and column forms share a process
    (and its compiled kernels), heaviest first."""
    groups: dict = {}
    for p in plan:
        fam = p.family
        key = (fam.storage, fam.weight_kind) if fam.storage == "jitc" else fam.name
        names, w = groups.get(key, ([], 0))
        groups[key] = (names + [fam.name], w + p.work)
    return [names for names, w in sorted(groups.values(), key=lambda g: -g[1])]


def conformance(family_names=None, profile="quick", backend_names=None,
                progress: bool = True, only=None, jobs: int = 1) -> pd.DataFrame:
    """Every check of every selected backend mode on every selected family × product: one row
    per family × product × backend × mode × check (columns ``status``, ``cases``, ``failed``,
    ``max_error``, ``tolerance``, ``worst_ratio``, ``detail``, ``failing_case``, ``reproduce``,
    ``seconds``).

    Families and backends by name (none, or ``"all"``: every one). ``profile`` is a name in
    :data:`~evbench.harness.profiles.VALIDATION_PROFILES` or a :class:`ValidationProfile`;
    ``only(backend_name, mode) -> bool`` keeps some backend modes (all by default); ``jobs > 1``
    checks families in that many fresh processes (the compilations, not the checks, take the
    time; ``only`` needs ``jobs=1``).
    """
    prof = profile if isinstance(profile, ValidationProfile) else VALIDATION_PROFILES.get(profile)
    session = Session.of(backend_names, prof)
    plan = _plan(FAMILIES.select(family_names), prof, session.live, only)
    session.alpha = STAT_ALPHA / max(sum(p.n_stat for p in plan), 1)
    session.bar = _Progress(sum(p.work for p in plan), progress)
    rows = []
    tasks = _tasks(plan)
    if jobs > 1 and only is None and len(tasks) > 1:
        rows = _in_workers(tasks, plan, session, jobs)
    else:
        for p in plan:
            rows += _family_rows(p, session)
    session.bar.close()
    return _order(pd.DataFrame(rows))


def _in_workers(tasks, plan, session: Session, jobs: int) -> list:
    """The tasks (lists of family names) in ``jobs`` fresh processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import jax

    by_name = {p.family.name: p for p in plan}
    names = [b.name for b in session.selected]
    rows = []
    with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init,
                             initargs=(bool(jax.config.jax_enable_x64), os.getpid())) as pool:
        futures = {pool.submit(_worker, task, session.profile, names, CHECKS.names(), session.alpha): task
                   for task in tasks}
        for fut in as_completed(futures):
            task, got = futures[fut], fut.result()
            if isinstance(got, Unseen):  # registered by code here: checked here
                for name in task:
                    got = _family_rows(by_name[name], session)
                    rows += got
                continue
            rows += got
            session.bar.update(sum(by_name[n].work for n in task), " ".join(task))
    return rows


def _order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by family (catalogue order), backend (registry order), mode, product, check."""
    if frame.empty:
        return frame
    fam_rank = {name: i for i, name in enumerate(FAMILIES.names())}
    be_rank = {name: i for i, name in enumerate(BACKENDS.names())}
    prod_rank = {p.expr: i for i, p in enumerate(PRODUCTS)}
    prod_rank[STRUCTURE] = len(PRODUCTS)
    check_rank = {name: i for i, name in enumerate(CHECKS.names())}
    key = pd.DataFrame({
        "f": frame.family.map(fam_rank), "b": frame.backend.map(be_rank),
        "o": frame.groupby(["family", "backend"], sort=False)["mode"].transform(
            lambda s: pd.Series(pd.factorize(s)[0], index=s.index)),
        "p": frame["product"].map(prod_rank), "c": frame.check.map(check_rank)})
    order = key.sort_values(["f", "b", "o", "p", "c"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)
