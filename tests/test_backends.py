"""Backends under test (evbench/backends.py): the conformance checks on a small profile.

``native`` and ``dense`` must pass every check. The peers' known upstream defects are
expected failures (strict): a fixed defect shows up as an unexpected pass, and the mark
says which defect and the version it was seen in. Also: a missing package is reported as
``missing`` while everything else runs, a crash inside a peer is an ``error`` with its text,
a product a peer does not offer is ``unsupported`` with the reason, and ``--gate`` decides
which backends' failures fail the run.
"""
import functools

import numpy as np
import pandas as pd
import pytest

from evbench import peers as B
from evbench.cli import main
from evbench.harness.checks import CHECKS as REGISTERED_CHECKS

CHECKS = REGISTERED_CHECKS.names()
from evbench.harness.conformance import conformance
from evbench.harness.profiles import ValidationProfile

#: few shapes and one dtype, so that JAX (and numba) compile little
PROFILE = ValidationProfile(shapes=((1, 1), (24, 16)), conn_probs=(0.3,), actives=(0.0, 0.5),
                  event_kinds=(("bool", "ones"), ("weight", "signed")), dtypes=("float64",), seeds=(0,),
                  design="covering", stat_shape=(200, 250), paths=False)

#: (backend, family, variants kept or None for all, checks that apply)
ALL = tuple(c for c in CHECKS if c != "statistics")
RUNS = [
    ("native", "dense", None, ALL),
    ("native", "fixed_prob", None, CHECKS),
    ("native", "jitc_normal_r", None, CHECKS),
    ("dense", "dense", None, ALL),
    ("dense", "fixed_prob", None, ALL),
    ("dense", "jitc_normal_r", None, ALL),
    ("scipy", "fixed_per_post", None, ("equivalence", "semantics", "transpose", "batch", "determinism")),
    ("jaxsparse", "coo", None, ALL),
    ("brainstate", "dense", None, ("equivalence", "semantics", "batch", "jit", "grad", "determinism")),
    ("brainstate", "fixed_per_pre", None, ("equivalence", "semantics", "batch", "jit", "grad", "determinism",
                                           "statistics")),
    ("brainstate", "fixed_prob", None, ("equivalence", "semantics", "batch", "jit", "grad", "determinism",
                                        "statistics")),
    ("brainevent", "dense", None, ALL),
    ("brainevent", "fixed_prob", None, ALL),
    # float kernels, one corder: brainevent's just-in-time kernels take seconds each to compile
    # (`evbench run` checks every variant)
    ("brainevent", "jitc_scalar_r", {"events": "float", "corder": False}, CHECKS),
]

#: known upstream defects: (backend, family, check) -> the reason
DEFECTS = {
    ("brainevent", "jitc_scalar_r", "statistics"):
        "JIT connectivity draws each gap uniformly from 1..ceil(2/p)-1, so its density is 2/ceil(2/p), "
        "not p (p=0.9 gives 0.667, p=0.3 gives 0.286), seen in brainevent 0.3.0",
    ("brainstate", "fixed_prob", "statistics"):
        "EventFixedProb(conn_num=p) draws exactly int(p * n_post) partners per row, not each pair with "
        "probability p (density floor(p n)/n, row counts without variance), seen in brainstate 0.6.0",
    ("brainstate", "dense", "equivalence"):
        "EventLinear treats any size-1 weight as a homogeneous scalar: a 1x1 weight matrix gives an output "
        "of shape (1, 1) for events (1,) and sums a batch into one row, seen in brainstate 0.6.0",
}


@functools.lru_cache(maxsize=None)
def _checks(backend: str, family: str, keep: tuple | None) -> pd.DataFrame:
    only = None if keep is None else (lambda name, mode: all(mode.get(k) == v for k, v in keep))
    return conformance([family], PROFILE, [backend], progress=False, only=only)


def _params():
    for backend, family, keep, checks in RUNS:
        key = None if keep is None else tuple(sorted(keep.items()))
        for check in checks:
            reason = DEFECTS.get((backend, family, check))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(backend, family, key, check, marks=marks, id=f"{backend}-{family}-{check}")


@pytest.mark.parametrize("backend,family,keep,check", list(_params()))
def test_backend_check(backend, family, keep, check):
    rows = _checks(backend, family, keep)
    rows = rows[rows.check == check]
    assert len(rows), f"no {check} rows for {backend} on {family}"
    assert not (rows.status == "missing").any(), rows.detail.iloc[0]
    bad = rows[rows.status.isin(["FAIL", "error"])]
    assert bad.empty, "\n".join(f"{r.product} [{r.mode}] {r.status}: {r.detail} ({r.failing_case})"
                                for r in bad.itertuples())
    if backend in ("native", "dense"):  # everything offered, evbench's semantics
        assert set(rows.status) == {"pass"}, set(rows.status)


def _semantics(backend, family, keep=None):
    rows = _checks(backend, family, keep)
    rows = rows[(rows.check == "semantics") & (rows["product"] == "events @ M")]
    return {r.mode: (r.status, r.detail.split(" (")[0]) for r in rows.itertuples()}


def test_event_semantics_recorded():
    """What each backend does with a floating event (negative, fractional, > 1, zero)."""
    assert _semantics("native", "fixed_prob") == {"index=built": ("pass", "multiplies by value"),
                                                  "index=none": ("pass", "multiplies by value")}
    assert _semantics("brainevent", "fixed_prob") == {
        "events=binary": ("differs", "treats nonzero as 1"),
        "events=binary,parallel=True": ("differs", "treats nonzero as 1"),
        "events=weighted": ("pass", "multiplies by value"),
        "events=float": ("pass", "multiplies by value"),
    }
    assert _semantics("brainstate", "dense") == {
        "layer=EventLinear,float_as_event=True": ("differs", "treats nonzero as 1"),
        "layer=EventLinear,float_as_event=False": ("pass", "multiplies by value"),
    }
    assert _semantics("brainstate", "fixed_per_pre") == {
        "layer=FixedNumConn": ("pass", "multiplies by value"),
        "layer=EventFixedNumConn": ("differs", "treats nonzero as 1"),
    }


def test_unsupported_products_give_the_reason():
    rows = _checks("brainstate", "fixed_per_pre", None)
    mv = rows[(rows["product"] == "M @ events") & (rows.check == "equivalence")]
    assert set(mv.status) == {"unsupported"}
    assert mv.detail.str.contains("events @ M only").all()
    rows = _checks("brainevent", "fixed_prob", None)  # every variant of a supported family has rows
    assert set(rows["mode"]) == {"events=binary", "events=binary,parallel=True", "events=weighted", "events=float"}


# -- fake backends: missing packages, crashes, gating --------------------------------------------

def _fake(name, *, requires=(), wrong=False, crash=None):
    def prepare(family, conn, product, request):
        if crash == "prepare":
            raise RuntimeError("boom in prepare")
        dense = np.asarray(conn.to_dense(), np.float64)

        def run(events):
            if crash == "run":
                raise ZeroDivisionError("boom in run")
            if product.key == "matvec_T":
                raise NotImplementedError("no transpose here")
            out = product.reference(dense, np.asarray(events, np.float64))
            return out * (1 + 1e-3) if wrong else out

        return B.Implementation(host=run)

    return B.Backend(name, "a fake backend for the tests", requires, prepare)


@pytest.fixture
def fakes():
    with B.BACKENDS.added(_fake("fake_missing", requires=("no_such_package_evbench",)), _fake("fake_wrong", wrong=True),
                          _fake("fake_crash", crash="run"), _fake("fake_prep", crash="prepare")):
        yield


def test_missing_crash_and_unsupported_are_reported(fakes):
    rows = conformance(["dense"], PROFILE, ["fake_missing", "fake_crash", "fake_prep", "fake_wrong"],
                       progress=False)
    by = rows.groupby("backend")
    missing = by.get_group("fake_missing")
    assert set(missing.status) == {"missing"}
    assert missing.detail.str.contains("no_such_package_evbench not importable").all()
    crash = by.get_group("fake_crash")
    ran = crash[crash.check != "grad"]  # a fake claims no autodiff: that is "unsupported"
    assert set(ran[ran.check != "jit"].status) == {"error"}
    assert ran[ran.check != "jit"].detail.str.contains("ZeroDivisionError: boom in run").all()
    prep = by.get_group("fake_prep")
    assert prep.detail.str.contains("RuntimeError: boom in prepare").all()
    wrong = by.get_group("fake_wrong")
    weq = wrong[wrong.check == "equivalence"].set_index("product")
    assert weq.loc["M.T @ events", "status"] == "unsupported"
    assert "no transpose here" in weq.loc["M.T @ events", "detail"]
    assert weq.loc["events @ M", "status"] == "FAIL" and weq.loc["events @ M", "worst_ratio"] > 1
    assert "fake_wrong" in weq.loc["events @ M", "reproduce"]


def test_gate_decides_the_exit_status(fakes, tmp_path, capsys):
    args = ["validate", "--family", "dense", "--no-progress", "--out", str(tmp_path), "--backend", "fake_wrong"]
    assert main(args) == 0  # a peer's failure is reported ...
    assert "FAIL dense events @ M fake_wrong" in capsys.readouterr().out
    assert main(args + ["--gate", "fake_wrong"]) == 1  # ... and fails the run when gated
    assert main(["validate", "--family", "dense", "--no-progress", "--out", str(tmp_path),
                 "--backend", "fake_missing", "--gate", "fake_missing"]) == 1
    (machine,) = tmp_path.iterdir()
    table = pd.read_csv(sorted(machine.glob("validate-quick-*.csv"))[0])
    assert {"backend", "mode", "status", *CHECKS} <= set(table.columns)
    checks = pd.read_csv(sorted(machine.glob("checks-quick-*.csv"))[0])
    assert {"family", "product", "backend", "mode", "check", "status", "max_error", "tolerance"} <= set(checks)


def test_unknown_backend_lists_the_valid_ones(capsys):
    assert main(["validate", "--backend", "nope", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown backend 'nope'; valid backends:" in err and "native" in err and "brainevent" in err
