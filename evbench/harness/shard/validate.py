"""Validation of the sharded products: sharded = unsharded, through the checks of
:mod:`evbench.harness.checks`, on meshes of several devices.

For every family that can be sharded × structure options × mesh size × partitioned axis × reduction ×
dtype, one structure is built as the catalogue builds it, sharded with
:func:`evbench.ops.shard.shard`, and each of the six catalogue products is checked:

``equivalence``  every event case (bool and signed float events; 0, 5 and 100 % active)
                 against the float64 reference within the error bound of
                 :mod:`evbench.tolerance`, and against the unsharded native product within
                 twice that bound (either may round differently; the bound holds for any
                 summation order); ``bitwise`` says whether every case equalled the unsharded
                 product bit for bit
``batch``        the batched product against the vector product sample by sample and
                 against ``jax.vmap`` of it (:func:`~evbench.harness.checks.check_batch`)
``transpose``    ``events @ S.T`` against ``S @ events`` and ``S.T @ events`` against
                 ``events @ S`` (:func:`~evbench.harness.checks.check_transpose`)
``determinism``  two runs and a second sharding from the same seed give the same bits
                 (:func:`~evbench.harness.checks.check_determinism`)

The devices must exist before JAX starts (:func:`evbench.ops.shard.virtual_cpu_devices`):
``evbench sharded validate`` asks for them, ``tests/test_sharded.py`` runs it in a process of
its own.
"""
from __future__ import annotations

from ..results import TABLES

import itertools
import time
from dataclasses import dataclass

import numpy as np

from ...catalogue import PRODUCTS, FAMILIES, get_product
from ...registry import Registry
from ..cases import Built, Case
from ..checks import (
    TRANSPOSE_PARTNER, UNBATCHED, CheckOutcome, Reference, check_batch, check_determinism, check_transpose, classify,
    compare_one, timed,
)

SHARD_CHECKS = ("equivalence", "batch", "transpose", "determinism")
#: the storage kinds that can be cut into blocks (COO is unordered: nothing to cut)
SHARDED_STORAGES = ("dense", "csr", "fixed", "jitc")


@dataclass(frozen=True)
class ShardedValidationProfile:
    """Which cases a sharded validation runs. ``shape`` divides by every mesh size."""

    name: str
    meshes: tuple
    shape: tuple = (64, 48)
    conn_prob: float = 0.2
    dtypes: tuple = ("float64", "float32")
    actives: tuple = (0.0, 0.05, 1.0)
    event_kinds: tuple = (("bool", "ones"), ("weight", "signed"))
    reductions: tuple = ("xla", "ordered")
    #: "default": each family's default options; "all": every set of structure options
    options: str = "all"
    #: "full": every mesh × dtype × reduction × option set; "covering": every family × axis at the
    #: largest mesh in the first dtype with the first reduction and its default options, then
    #: each other mesh, reduction and dtype once (on the first families), and each option value
    #: once (the first family that has it): every one appears, at a fraction of the compilations
    design: str = "full"


SHARDED_VALIDATION_PROFILES: Registry[ShardedValidationProfile] = Registry("sharded validation profile")
SHARDED_VALIDATION_PROFILES.register(ShardedValidationProfile("full", meshes=(2, 4, 8)))
# the CI gate: every family × product on 8 devices; each other mesh, dtype, reduction and
# option value once
SHARDED_VALIDATION_PROFILES.register(ShardedValidationProfile("ci", meshes=(2, 4, 8), design="covering"))


def sharded_families():
    """The catalogue families whose structures can be sharded."""
    return [f for f in FAMILIES.all() if f.storage in SHARDED_STORAGES]


def axes_of(fam) -> tuple:
    """The axes a family's structure can be partitioned along, its natural one first (dense
    weights and CSR/CSC: both)."""
    if fam.storage == "dense":
        return ("rows", "cols")
    if fam.storage == "csr":
        return (fam.orientation, "cols" if fam.orientation == "rows" else "rows")
    return (fam.orientation,)


@dataclass(frozen=True)
class Setting:
    """One sharded structure to check."""

    family: str
    options: tuple
    n_devices: int
    axis: str
    reduction: str
    dtype: str


def settings(profile: ShardedValidationProfile, names=None) -> list[Setting]:
    """Every setting of ``profile`` for the families ``names`` (default: every shardable one)."""
    fams = [f for f in sharded_families() if not names or f.name in names]
    big, red0, dt0 = max(profile.meshes), profile.reductions[0], profile.dtypes[0]
    # the covering design's other settings, each once, on the families in turn
    extras = ([(D, red0, profile.dtypes[-1]) for D in profile.meshes if D != big]
              + [(big, red, dt0) for red in profile.reductions[1:]]
              + [(big, red0, dt) for dt in profile.dtypes[1:]])
    seen_options: set = set()
    out = []
    for i, fam in enumerate(fams):
        default = tuple(sorted(fam.resolve_options({}).items()))
        option_sets = [default] if profile.options == "default" else [tuple(sorted(v.items())) for v in fam.option_sets()]
        axes = axes_of(fam)
        if profile.design == "full":
            out += [Setting(fam.name, v, D, ax, red, dt) for v, D, ax, red, dt in
                    itertools.product(option_sets, profile.meshes, axes, profile.reductions, profile.dtypes)]
            continue
        out += [Setting(fam.name, default, big, ax, red0, dt0) for ax in axes]
        if i < len(extras):
            D, red, dt = extras[i]
            out.append(Setting(fam.name, default, D, axes[i % len(axes)], red, dt))
        seen_options.update(default)
        for k, v in enumerate(x for x in option_sets if not set(x) <= seen_options):  # each option value once
            seen_options.update(v)
            out.append(Setting(fam.name, v, profile.meshes[(i + k) % len(profile.meshes)], axes[0], red0,
                               profile.dtypes[(i + k) % len(profile.dtypes)]))
    return out


def _case(profile, s: Setting, dtype_events, values, active) -> Case:
    return Case(s.family, tuple(profile.shape), profile.conn_prob, 0, s.dtype, dtype_events, values, active,
                options=s.options)


def _impl(conn, product):
    from ...peers import Implementation

    return Implementation(apply=product.run, operand=conn)


def check_setting(profile: ShardedValidationProfile, s: Setting, mesh) -> list[dict]:
    """Every check of every product for one setting: one row per product × check."""
    from ...ops.shard import shard

    base_case = _case(profile, s, "bool", "ones", 0.0)
    built = Built(base_case)
    t0 = time.perf_counter()
    try:
        sharded = shard(built.conn, mesh, axis=s.axis, reduction=s.reduction)
        again = shard(base_case.build(), mesh, axis=s.axis, reduction=s.reduction)
    except Exception as exc:  # a setting that cannot be sharded is a result
        status, why = classify(exc)
        return [_row(s, p, None, check, CheckOutcome(status if status != "unsupported" else "error", detail=why))
                for p in PRODUCTS for check in SHARD_CHECKS]
    build_s = time.perf_counter() - t0
    impls = {p.key: _impl(sharded, p) for p in PRODUCTS}
    native = {p.key: _impl(built.conn, p) for p in PRODUCTS}
    ref = Reference(built)
    rows = []
    for p in PRODUCTS:
        rows.append(_row(s, p, sharded, "equivalence",
                         timed(_equivalence, profile, s, p, impls[p.key], native[p.key], ref), build_s=build_s))
        args = (tuple(profile.shape), s.dtype)
        if p.key in UNBATCHED:
            single = get_product(UNBATCHED[p.key])
            out = timed(check_batch, impls[p.key], impls[single.key], p, single, ref, *args)
            rows.append(_row(s, p, sharded, "batch", out))
        if p.key in TRANSPOSE_PARTNER:
            partner = get_product(TRANSPOSE_PARTNER[p.key])
            out = timed(check_transpose, impls[p.key], impls[partner.key], p, partner, ref, *args)
            rows.append(_row(s, p, sharded, "transpose", out))
        out = timed(check_determinism, impls[p.key], _impl(again, p), None, p, *args)
        rows.append(_row(s, p, sharded, "determinism", out))
    return rows


def _equivalence(profile, s, product, impl, native, ref) -> CheckOutcome:
    """Every event case: sharded against the reference (bound) and the unsharded product
    (twice the bound); ``detail`` says whether all were bitwise equal to the unsharded."""
    from ...tolerance import compare

    worst, cases, failed, bitwise, failing = (0.0, 0.0, 0.0), 0, 0, True, ""
    for (kind, values), active in itertools.product(profile.event_kinds, profile.actives):
        case = _case(profile, s, s.dtype if kind == "weight" else kind, values, active)
        events = case.events(product)
        err, tol, ratio, ok = compare_one(impl, product, ref, events, s.dtype)
        out, unsharded = np.asarray(impl.run(events)), np.asarray(native.run(events))
        e2, t2, r2, ok2 = compare(out, unsharded, 2 * ref.bound(product, events, s.dtype))
        bitwise &= bool(np.array_equal(out, unsharded))
        cases += 1
        for e, t, r in ((err, tol, ratio), (e2, t2, r2)):
            if r >= worst[2]:
                worst = (e, t, r)
        if not (ok and ok2):
            failed += 1
            failing = failing or case.describe() + ("" if ok else " (against the reference)") + (
                "" if ok2 else " (against the unsharded product)")
    return CheckOutcome("pass" if failed == 0 else "FAIL", cases, failed, *worst, failing_case=failing,
                   detail="bitwise equal to the unsharded product" if bitwise else "within the bound of the unsharded")


def _row(s: Setting, product, sharded, check, out: CheckOutcome, build_s=float("nan")) -> dict:
    # the product of M itself that ``product`` computes (M.T @ events is events @ M)
    comm = sharded.communication("vecmat" if product.input_axis == "rows" else "matvec") if sharded is not None else ""
    return dict(family=s.family, options=",".join(f"{k}={v}" for k, v in s.options), product=product.expr,
                product_key=product.key, n_devices=s.n_devices, axis=s.axis, communication=comm,
                reduction=s.reduction, dtype=s.dtype, check=check, status=out.status, cases=out.cases,
                failed=out.failed, max_error=out.max_error, tolerance=out.tolerance, worst_ratio=out.worst_ratio,
                bitwise_unsharded=(out.detail.startswith("bitwise") if check == "equivalence" else None),
                detail=out.detail, failing_case=out.failing_case, seconds=round(out.seconds, 3), build_s=build_s)


def unsupported_rows(n_devices: int, names=None) -> list[dict]:
    """One row per family that cannot be sharded (of ``names``; default every one), saying why."""
    rows = []
    for fam in FAMILIES.all():
        if fam.storage in SHARDED_STORAGES or (names and fam.name not in names):
            continue
        why = (f"{fam.name}: a COO list is unordered (no block of rows or columns to cut)"
               if fam.storage == "coo" else f"{fam.name}: storage {fam.storage!r} has no sharded form")
        for p in PRODUCTS:
            rows.append(dict(family=fam.name, options="", product=p.expr, product_key=p.key, n_devices=n_devices,
                             axis="", communication="", reduction="", dtype="", check="equivalence",
                             status="unsupported", cases=0, failed=0, max_error=np.nan, tolerance=np.nan,
                             worst_ratio=np.nan, bitwise_unsharded=None, detail=why, failing_case="", seconds=0.0,
                             build_s=np.nan))
    return rows


def validate(profile: ShardedValidationProfile, names=None, *, progress: bool = True):
    """Every setting of ``profile`` (the devices must exist already): the rows as a frame."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ...ops.shard import device_mesh

    todo = settings(profile, names)
    meshes = {D: device_mesh(D) for D in profile.meshes}
    rows = []
    for s in tqdm(todo, desc="sharded validate", unit="setting", disable=not progress, leave=False):
        rows.extend(check_setting(profile, s, meshes[s.n_devices]))
    rows.extend(unsupported_rows(max(profile.meshes), names))
    return pd.DataFrame(rows, columns=list(VALIDATE_COLUMNS))


VALIDATE_COLUMNS = TABLES.get("sharded-validate").columns  # declared in evbench.harness.results
