"""Validation sees every path of the kernels: the quick profile draws cases on both sides of the
kernels' thresholds, and a bug planted on a path the ordinary shapes never reach fails it."""
import jax
import numba
import numpy as np
import pytest

from evbench.catalogue import FAMILIES, get_family, get_product
from evbench.cli import main
from evbench.harness.profiles import PATH_BATCH, VALIDATION_PROFILES, path_shape, profile_cases
from evbench.ops import cpu
from evbench.ops.cpu import sparse as kernels  # where the CSR products look their kernels up


def _groups(batch: int, n_out: int) -> int:
    per = max(1, min(batch, cpu.thresholds()["group_elements"] // n_out))
    return -(-batch // per)


@pytest.mark.parametrize("family", [f.name for f in FAMILIES.all()])
def test_the_quick_profile_crosses_every_threshold(family):
    fam = get_family(family)
    th = cpu.thresholds()
    shape = path_shape(fam, th)
    cases = [c for c in profile_cases(fam, VALIDATION_PROFILES.get("quick")) if c.shape == shape]
    assert {c.batch for c in cases} == {PATH_BATCH, 3}
    # the grouped kernel runs on the long axis: M's columns, or M.T's for column-stored families
    long_axis = shape[0] if fam.orientation == "cols" else shape[1]
    assert _groups(PATH_BATCH, long_axis) >= 3 and _groups(3, long_axis) == 1
    # a just-in-time row is longer than the largest block its kernel generates at once
    assert long_axis * cases[0].conn_prob > 2 * th["max_block"]


def _mutant():
    """csr_vecmat with a planted bug on the batch-grouping path: the last sample of the second and
    later groups of a batch is dropped."""
    group = cpu.thresholds()["group_elements"]
    original = kernels.csr_vecmat

    @numba.njit(cache=False)
    def csr_vecmat_grouping_mutant(S, indptr, indices, w, out):
        original(S, indptr, indices, w, out, 0, 1)
        b = S.shape[0]
        g = max(1, min(b, group // max(out.shape[1], 1)))
        for k0 in range(g, b, g):
            out[min(b, k0 + g) - 1, :] = 0

    return csr_vecmat_grouping_mutant


def _validate_with(monkeypatch, capsys, kernel, mutant, product, M, events, *args):
    """``evbench validate ARGS`` output and exit status with ``kernel`` replaced by ``mutant``,
    after checking that the mutant really changes ``product`` on ``M`` and ``events``."""
    good = np.asarray(get_product(product).run(M, events))
    monkeypatch.setattr(kernels, kernel, mutant)
    jax.clear_caches()
    try:
        bad = np.asarray(get_product(product).run(M, events))
        assert not np.array_equal(good, bad)
        code = main(["validate", "--family", "csr", "--backend", "native", "--jobs", "1", "--no-progress", *args])
    finally:
        monkeypatch.undo()
        jax.clear_caches()
    return code, capsys.readouterr().out


def test_a_mutant_of_the_batch_grouping_path_fails_validation(monkeypatch, tmp_path, capsys):
    # the mutant really changes a grouped product (and leaves a single group alone)
    M = get_family("csr").build(4, 9000, conn_prob=0.5, seed=0, dtype="float32")
    code, out = _validate_with(monkeypatch, capsys, "csr_vecmat", _mutant(), "vecmat_batch", M,
                               np.ones((64, 4), bool), "--out", str(tmp_path))
    assert code == 1 and "Gate (native): FAILED" in out
    assert "FAIL csr events[b, :] @ M native[index=built] equivalence" in out


def _indexed_matvec_mutant():
    """indexed_matvec with the bug of a missed sample: an input active in more than two samples of
    a batch skips the last of them (``range(a)`` -> ``range(a - 1 if a > 2 else a)``)."""
    import inspect
    import textwrap

    src = textwrap.dedent(inspect.getsource(kernels.indexed_matvec.py_func))
    assert "for q in range(a):" in src
    src = src.replace("@_jit\n", "").replace("for q in range(a):", "for q in range(a - 1 if a > 2 else a):")
    # its own name: FFI targets are registered by kernel name
    src = src.replace("def indexed_matvec(", "def indexed_matvec_mutant(")
    env = dict(vars(kernels))
    exec(compile(src, "<indexed_matvec mutant>", "exec"), env)
    return numba.njit(cache=False)(env["indexed_matvec_mutant"])


def test_a_mutant_of_the_column_index_kernel_fails_validation(monkeypatch, tmp_path, capsys):
    """The column index is built by default, so validation reaches its kernel: a bug planted there
    fails ``evbench validate --profile quick``."""
    M = get_family("csr").build(30, 40, conn_prob=0.3, seed=0, dtype="float32")
    code, out = _validate_with(monkeypatch, capsys, "indexed_matvec", _indexed_matvec_mutant(), "matvec_batch", M,
                               np.ones((40, 8), bool), "--profile", "quick", "--out", str(tmp_path))
    assert code == 1 and "Gate (native): FAILED" in out
    assert "FAIL csr M @ events[:, b] native[index=built] equivalence" in out
    assert "FAIL csr M @ events[:, b] native[index=none]" not in out  # the gathering kernel is not the mutant


def test_validation_reaches_every_kernel_path(tmp_path, capsys):
    """Every FFI kernel and each of its paths (one sample or a batch, bool or float events, scalar or
    per-synapse weights, each generated weight kind) is traced by ``evbench validate --profile quick``
    of the native backend in all its modes, and no kernel path is left undeclared in ``PATHS``."""
    from evbench.ops.cpu import ffi
    from evbench.ops.cpu import kernels as named

    ffi_kernels = {name for name in named.__dict__ if name.endswith(("_vecmat", "_matvec"))}
    assert ffi_kernels == set(named.PATHS), "a kernel without declared paths, or a declared one that is gone"
    jax.clear_caches()
    with ffi.recording() as seen:
        code = main(["validate", "--profile", "quick", "--backend", "native", "--jobs", "1", "--no-progress",
                     "--out", str(tmp_path)])
    capsys.readouterr()
    assert code == 0
    declared = {(k, p) for k, paths in named.PATHS.items() for p in paths}
    assert sorted(declared - seen) == [], "kernel paths evbench validate never reaches"
    assert sorted(seen - declared) == [], "kernel paths reached but not declared in kernels.PATHS"
