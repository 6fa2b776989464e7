"""The conformance checks of one backend mode on one family × product, each giving a
:class:`CheckOutcome`, and their registry :data:`CHECKS` (the one list of check names: the
validation tables' columns, the report and the CLI read it).

Each check is declared once, at the end of this module, with a one-line description (``evbench
catalogue --list checks`` prints them); the functions above it do the work.

Status: ``pass``; ``FAIL`` (outside the bound, with the error, the tolerance and the smallest
failing case); ``differs`` (semantics only: the backend does what it documents, which is not
evbench's event semantics); ``unsupported`` (the backend does not offer it; the reason is
given); ``error`` (an exception inside the backend; its text is given); ``missing`` (the
backend's package does not import).
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..peers import Implementation, Unsupported
from ..catalogue import Product, get_product
from ..events import make_events
from ..registry import Registry
from ..tolerance import compare, error_bound

#: what a floating event can be found to contribute, in the order tried
MEANINGS = (
    ("value", "multiplies by value", lambda e: e),
    ("nonzero", "treats nonzero as 1", lambda e: (e != 0).astype(e.dtype)),
    ("positive", "treats >0 as 1", lambda e: (e > 0).astype(e.dtype)),
    ("positive_value", "multiplies by value, drops negative events", lambda e: np.where(e > 0, e, 0).astype(e.dtype)),
    ("abs", "multiplies by |value|", lambda e: np.abs(e)),
)
_MEANING = {key: (text, f) for key, text, f in MEANINGS}

#: transposed product -> the product it must equal; batched product -> its unbatched form
TRANSPOSE_PARTNER = {"vecmat_T": "matvec", "matvec_T": "vecmat"}
UNBATCHED = {"vecmat_batch": "vecmat", "matvec_batch": "matvec"}
#: product -> the product that gives its gradient w.r.t. the events
GRAD_PARTNER = {"vecmat": "matvec", "matvec": "vecmat"}


@dataclass
class CheckOutcome:
    status: str
    cases: int = 0
    failed: int = 0
    max_error: float = 0.0
    tolerance: float = 0.0
    worst_ratio: float = 0.0
    detail: str = ""
    failing_case: str = ""
    reproduce: str = ""
    seconds: float = 0.0


class WrongShape(AssertionError):
    """A backend's output does not have the product's shape (a failure, not a crash)."""


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` and where in the peer it was raised, in one line."""
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        f = frames[-1]
        text += f" (at {f.filename.split('site-packages/')[-1]}:{f.lineno})"
    return text[:400]


def classify(exc: BaseException) -> tuple[str, str]:
    """An exception from a backend: Unsupported and NotImplementedError (the peer says it
    does not offer this) are ``unsupported``; anything else is an ``error``."""
    if isinstance(exc, Unsupported):
        return "unsupported", str(exc)
    if isinstance(exc, WrongShape):
        return "FAIL", str(exc)
    if isinstance(exc, NotImplementedError):
        return "unsupported", f"NotImplementedError: {exc}"
    return "error", describe_exception(exc)


class Reference:
    """The dense float64 matrix to compare with and the terms of the error bound: the
    family's reference, or the backend's own matrix when it draws its own."""

    def __init__(self, prepared, impl: Implementation | None = None):
        if impl is not None and impl.reference is not None:
            self.dense = np.asarray(impl.reference_matrix(), np.float64)
            self.abs_weights, self.counts = impl.reference_terms()
            self.weight_error = 0.0
        else:
            self.dense, self.abs_weights, self.counts = prepared.dense, prepared.abs_weights, prepared.counts
            self.weight_error = prepared.weight_error

    def bound(self, product: Product, events, dtype):
        return error_bound(product, self.abs_weights, self.counts, events, dtype, weight_error=self.weight_error)

    def expected(self, product: Product, events):
        return product.reference(self.dense, events)


def effective(events: np.ndarray, semantics: str) -> np.ndarray:
    """The events as the backend documents it reads them (floating events only differ)."""
    if events.dtype == bool or semantics == "value":
        return events
    return _MEANING[semantics][1](events)


def compare_one(impl: Implementation, product: Product, ref: Reference, events, dtype):
    """``(error, tolerance, ratio, passed)`` of one run against the reference; an output of
    the wrong shape raises :class:`WrongShape`."""
    out = np.asarray(impl.run(events))
    e = effective(np.asarray(events), impl.semantics)
    want = ref.expected(product, e)
    if out.shape != want.shape:
        raise WrongShape(f"output shape {out.shape}, expected {want.shape} for events of shape {np.shape(events)}")
    return compare(out, want, ref.bound(product, e, dtype))


# -- single-structure checks ---------------------------------------------------------------------

def probe_events(product: Product, shape, dtype, seed=0, batch=3, active=0.5, values="signed"):
    """Floating events with negative, fractional and > 1 values (or booleans), half active."""
    n = product.n_inputs(shape)
    samples = make_events(n, active, seed=seed, batch=batch if product.batched else 1, dtype=dtype, values=values)
    return product.events_from_samples(samples)


def check_semantics(impl, product, ref, shape, dtype) -> CheckOutcome:
    """Which meaning of a floating event reproduces the backend's output."""
    events = probe_events(product, shape, dtype)
    out = np.asarray(impl.run(events))
    worst = None
    for key, text, f in MEANINGS:
        e = f(events)
        err, tol, ratio, ok = compare(out, ref.expected(product, e), ref.bound(product, e, dtype))
        if key == "value":
            worst = (err, tol, ratio)
        if ok:
            declared = _MEANING[impl.semantics][0]
            if key == "value":
                return CheckOutcome("pass", 1, 0, err, tol, ratio, detail=text)
            if key == impl.semantics:
                return CheckOutcome("differs", 1, 0, *worst, detail=f"{text} (documented; evbench multiplies by value)")
            return CheckOutcome("FAIL", 1, 1, *worst, detail=f"{text}, but documents: {declared}")
    return CheckOutcome("FAIL", 1, 1, *worst,
                   detail="matches none of: " + "; ".join(text for _, text, _ in MEANINGS))


def check_transpose(impl_t, impl_partner, product, partner, ref, shape, dtype) -> CheckOutcome:
    """``events @ M.T`` against ``M @ events`` (or ``M.T @ events`` against ``events @ M``)
    of the same backend, and the orientation of its own materialised ``M.T``."""
    worst = (0.0, 0.0, 0.0)
    ok_all = True
    notes = []
    n = 0
    for kind in ("bool", dtype):
        values = "ones" if kind == "bool" else "signed"
        events = probe_events(product, shape, kind, values=values)
        a, b = np.asarray(impl_t.run(events)), np.asarray(impl_partner.run(events))
        e = effective(events, impl_t.semantics)
        err, tol, ratio, ok = compare(a, b, 2 * ref.bound(product, e, dtype))
        n += 1
        if ratio >= worst[2]:
            worst = (err, tol, ratio)
        if not ok:
            ok_all = False
            notes.append(f"{product.expr} != {partner.expr} for {kind} events")
    if impl_t.own_dense is not None and impl_partner.own_dense is not None:
        dt, dp = np.asarray(impl_t.own_dense()), np.asarray(impl_partner.own_dense())
        if dt.shape != dp.T.shape or not np.array_equal(dt, dp.T):
            ok_all = False
            notes.append("its own M.T does not materialise to the transpose of M")
        else:
            notes.append("own M.T materialises to M's transpose, bitwise")
    return CheckOutcome("pass" if ok_all else "FAIL", n, 0 if ok_all else 1, *worst, detail="; ".join(notes))


def check_batch(impl_b, impl_1, product, single, ref, shape, dtype) -> CheckOutcome:
    """Batched product vs the unbatched one per sample, and vs ``vmap`` of the unbatched one."""
    import jax

    events = probe_events(product, shape, dtype)
    samples = events if product.events_left else events.T  # (batch, n)
    batched = np.asarray(impl_b.run(events))
    rows = batched if product.events_left else batched.T
    loop = np.stack([np.asarray(impl_1.run(s)) for s in samples])
    bound = np.stack([ref.bound(single, effective(s, impl_1.semantics), dtype) for s in samples])
    err, tol, ratio, ok = compare(rows, loop, 2 * bound)
    notes = ["batched == per sample" if ok else "batched != per sample"]
    if impl_1.jax_fn is not None:
        vm = np.asarray(jax.vmap(impl_1.jax_fn)(samples))
        e2, t2, r2, ok2 = compare(vm, loop, 2 * bound)
        notes.append("vmap == per sample" if ok2 else "vmap != per sample")
        if r2 > ratio:
            err, tol, ratio = e2, t2, r2
        ok = ok and ok2
    else:
        notes.append("vmap: not a JAX function")
    return CheckOutcome("pass" if ok else "FAIL", 1, 0 if ok else 1, err, tol, ratio, detail="; ".join(notes))


def check_jit(impl, product, ref, shape, dtype) -> CheckOutcome:
    import jax

    if impl.jax_fn is None:
        return CheckOutcome("unsupported", detail="not a JAX function")
    events = probe_events(product, shape, dtype, active=0.1)  # op by op is slow: a few active inputs
    # the compiled callable the benchmarks time (impl.run), where the backend compiles
    jitted = np.asarray(impl.run(events) if impl.timing == "compiled" else jax.jit(impl.jax_fn)(events))
    with jax.disable_jit():
        eager = np.asarray(impl.jax_fn(events))
    bound = ref.bound(product, effective(events, impl.semantics), dtype)
    err, tol, ratio, ok = compare(jitted, eager, 2 * bound)
    return CheckOutcome("pass" if ok else "FAIL", 1, 0 if ok else 1, err, tol, ratio,
                   detail="jit == op by op" if ok else "jit != op by op")


def _float_leaves(tree):
    import jax

    return [x for x in jax.tree_util.tree_leaves(tree) if np.dtype(x.dtype).kind == "f"]


def _replace_float_leaves(tree, values):
    import jax

    leaves, treedef = jax.tree_util.tree_flatten(tree)
    it = iter(values)
    return treedef.unflatten([next(it) if np.dtype(x.dtype).kind == "f" else x for x in leaves])


def check_grad(impl, product, ref, shape, dtype) -> CheckOutcome:
    """Gradients of ``L = sum(out * g)`` against the dense gradient.

    ``dL/dD`` is ``outer(e, g)`` (``outer(g, e)`` for ``M @ events``); w.r.t. the backend's
    parameters it follows through ``dense_of`` (a linear map), w.r.t. the events it is the
    other product with ``g``. Bound of each gradient entry: twice ``(N + 1) eps sum|terms|``
    with N the number of synapses (at least the terms of any entry's sum); ``sum|terms|`` is
    ``|J|^T |dL/dD|``, J the Jacobian of ``dense_of`` (for scalar parameters from the change of
    ``dense_of`` when each is raised by 1; a scatter, non-negative, for per-synapse ones).
    """
    import jax
    import jax.numpy as jnp

    spec = impl.grad
    if spec is None:
        return CheckOutcome("unsupported", detail="no autodiff claimed")
    if np.dtype(dtype) != np.float64:
        return CheckOutcome("unsupported", detail="checked in float64 only")
    events = probe_events(product, shape, dtype)
    g = make_events(product.n_outputs(shape), 1.0, seed=7, dtype="float64", values="signed")
    e_eff = effective(events, impl.semantics)
    G = np.outer(e_eff, g) if product.key == "vecmat" else np.outer(g, e_eff)
    if spec.vjp is not None:
        got_p, got_e = spec.vjp(jnp.asarray(events), jnp.asarray(g))
    else:
        def loss(p, e):
            return jnp.sum(spec.apply(p, e) * g)

        got_p, got_e = jax.grad(loss, argnums=(0, 1), allow_int=True)(spec.params, jnp.asarray(events))
    _, dense_vjp = jax.vjp(spec.dense_of, spec.params)
    (want_p,) = dense_vjp(jnp.asarray(G))
    (abs_p,) = dense_vjp(jnp.asarray(np.abs(G)))
    eps = float(np.finfo(np.float64).eps)
    n_syn = float(ref.counts.sum())
    got_l, want_l, abs_l = _float_leaves(got_p), _float_leaves(want_p), _float_leaves(abs_p)
    params_l = _float_leaves(spec.params)
    if not len(got_l) == len(want_l) == len(params_l):
        return CheckOutcome("FAIL", 1, 1, detail=f"{len(got_l)} gradient arrays for {len(params_l)} parameters")
    worst = (0.0, 0.0, 0.0)
    ok_all = True
    notes = []
    for i, (got, want, mag, par) in enumerate(zip(got_l, want_l, abs_l, params_l)):
        if np.size(par) <= 4:  # scalar parameters: |J| by differences (dense_of is linear)
            base = np.asarray(spec.dense_of(spec.params), np.float64)
            mags = []
            for j in range(np.size(par)):
                shifted = list(params_l)
                shifted[i] = jnp.asarray(par).reshape(-1).at[j].add(1).reshape(np.shape(par))
                Jj = np.asarray(spec.dense_of(_replace_float_leaves(spec.params, shifted)), np.float64) - base
                mags.append(float((np.abs(Jj) * np.abs(G)).sum()))
            mag = np.asarray(mags).reshape(np.shape(par))
        bound = 2 * (n_syn + 1) * eps * np.asarray(mag, np.float64)
        err, tol, ratio, ok = compare(np.asarray(got), np.asarray(want), bound)
        if ratio >= worst[2]:
            worst = (err, tol, ratio)
        ok_all &= ok
    notes.append(f"weights {'==' if ok_all else '!='} dense gradient")
    if spec.events:
        partner = get_product(GRAD_PARTNER[product.key])
        want_e = partner.reference(ref.dense, g)
        bound = 2 * ref.bound(partner, g, "float64")
        err, tol, ratio, ok = compare(np.asarray(got_e), want_e, bound)
        if ratio >= worst[2]:
            worst = (err, tol, ratio)
        ok_all &= ok
        notes.append(f"events {'==' if ok else '!='} dense gradient")
    else:
        notes.append(f"events: not checked ({_MEANING[impl.semantics][0]}: no gradient is defined)")
    return CheckOutcome("pass" if ok_all else "FAIL", 1, 0 if ok_all else 1, *worst, detail="; ".join(notes))


def check_determinism(impl, again: Implementation, other_seed: Implementation | None, product, shape, dtype) -> CheckOutcome:
    """Two runs, and a second preparation from the same seed, give the same bits; a backend
    that draws its own matrix draws another one for another seed."""
    events = probe_events(product, shape, dtype)
    a = np.asarray(impl.run(events))
    b = np.asarray(impl.run(events))
    c = np.asarray(again.run(events))
    notes = []
    ok = np.array_equal(a, b, equal_nan=True) and np.array_equal(a, c, equal_nan=True)
    notes.append("same bits from the same seed" if ok else "different bits from the same seed")
    if impl.reference is not None and again.reference is not None:
        same = np.array_equal(impl.reference_matrix(), again.reference_matrix())
        ok &= same
        if not same:
            notes.append("the same seed draws another matrix")
        if other_seed is not None and other_seed.reference is not None:
            if np.array_equal(impl.reference_matrix(), other_seed.reference_matrix()):
                ok = False
                notes.append("another seed draws the same matrix")
            else:
                notes.append("another seed draws another matrix")
    return CheckOutcome("pass" if ok else "FAIL", 1, 0 if ok else 1, detail="; ".join(notes))


def timed(fn, *args, **kwargs) -> CheckOutcome:
    """Run one check; an exception from the backend becomes ``unsupported`` or ``error``."""
    t0 = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # a crash inside a peer is a result, not the end of the run
        status, why = classify(exc)
        out = CheckOutcome(status, detail=why)
    out.seconds = time.perf_counter() - t0
    return out


# -- the registry ------------------------------------------------------------------------------


@dataclass
class Probe:
    """What a single-structure check sees: one backend mode's prepared product on the probe
    structure of a family, with its reference.

    ``partner`` is the prepared product the check compares against (the untransposed or the
    unbatched product, for checks that declare one), ``again(case)`` prepares the same product
    anew from ``case`` (for determinism), ``case`` is the probe case (a
    :class:`~evbench.harness.cases.Case`)."""

    impl: Implementation
    product: Product
    ref: Reference
    case: object
    partner: Implementation | None = None
    partner_product: Product | None = None
    again: Callable | None = None

    @property
    def shape(self):
        return self.case.shape

    @property
    def dtype(self):
        return self.case.dtype


@dataclass(frozen=True)
class Check:
    """One conformance check: a column of the validation table.

    ``kind`` says how the engine (:mod:`evbench.harness.conformance`) runs it: ``"cases"``
    over every case of the profile (equivalence), ``"probe"`` once per product on the probe
    structure, calling ``run(probe) -> CheckOutcome`` (see :class:`Probe`), ``"drawn"`` on the
    matrices a backend draws itself (statistics). ``applies(product)`` says which products a
    probe check runs on (the others show ``-``); ``partner(product)`` names the product key it
    compares against, when it needs one."""

    name: str
    description: str
    kind: str = "probe"
    run: Callable | None = field(default=None, repr=False)
    applies: Callable = field(default=lambda product: True, repr=False)
    partner: Callable | None = field(default=None, repr=False)


#: every conformance check, in the order of the table columns
CHECKS: Registry[Check] = Registry("check")


def _partner_of(table: dict) -> Callable:
    return lambda product: table.get(product.key)


def _determinism(probe: Probe) -> CheckOutcome:
    case = probe.case
    second = probe.again(case)
    other_seed = None
    if probe.impl.reference is not None:  # a backend drawing its own matrix draws another for another seed
        other_seed = probe.again(dataclasses.replace(case, seed=case.seed + 1), optional=True)
    return check_determinism(probe.impl, second, other_seed, probe.product, probe.shape, probe.dtype)


for _check in (
    Check("equivalence", "the product against the float64 reference, within the error bound of each output's "
          "sum, over every case of the profile", kind="cases"),
    Check("semantics", "what a floating event (negative, fractional, > 1, zero) contributes",
          run=lambda p: check_semantics(p.impl, p.product, p.ref, p.shape, p.dtype)),
    Check("transpose", "events @ M.T == M @ events (and M.T @ events == events @ M), and the backend's own M.T "
          "materialising to M's transpose", applies=lambda product: product.key in TRANSPOSE_PARTNER,
          partner=_partner_of(TRANSPOSE_PARTNER),
          run=lambda p: check_transpose(p.impl, p.partner, p.product, p.partner_product, p.ref, p.shape, p.dtype)),
    Check("batch", "a batched product equals the unbatched one sample by sample, and so does jax.vmap of it",
          applies=lambda product: product.key in UNBATCHED, partner=_partner_of(UNBATCHED),
          run=lambda p: check_batch(p.impl, p.partner, p.product, p.partner_product, p.ref, p.shape, p.dtype)),
    Check("jit", "jax.jit of the product equals the product run op by op",
          run=lambda p: check_jit(p.impl, p.product, p.ref, p.shape, p.dtype)),
    Check("grad", "gradients w.r.t. the backend's weight parameters and floating events equal the dense "
          "gradient", applies=lambda product: product.key in GRAD_PARTNER,
          run=lambda p: check_grad(p.impl, p.product, p.ref, p.shape, p.dtype)),
    Check("determinism", "preparing and running twice from the same seed gives the same bits", run=_determinism),
    Check("statistics", "the connectivity a backend draws itself follows the law it documents", kind="drawn"),
):
    CHECKS.register(_check)
