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
        original(S, indptr, indices, w, out)
        b = S.shape[0]
        g = max(1, min(b, group // max(out.shape[1], 1)))
        for k0 in range(g, b, g):
            out[min(b, k0 + g) - 1, :] = 0

    return csr_vecmat_grouping_mutant


def test_a_mutant_of_the_batch_grouping_path_fails_validation(monkeypatch, tmp_path, capsys):
    # the mutant really changes a grouped product (and leaves a single group alone)
    M = get_family("csr").build(4, 9000, conn_prob=0.5, seed=0, dtype="float32")
    events = np.ones((64, 4), bool)
    good = np.asarray(get_product("vecmat_batch").run(M, events))
    monkeypatch.setattr(kernels, "csr_vecmat", _mutant())
    jax.clear_caches()
    try:
        bad = np.asarray(get_product("vecmat_batch").run(M, events))
        assert not np.array_equal(good, bad)
        code = main(["validate", "--family", "csr", "--backend", "native", "--jobs", "1", "--no-progress",
                     "--out", str(tmp_path)])
    finally:
        monkeypatch.undo()
        jax.clear_caches()
    out = capsys.readouterr().out
    assert code == 1 and "Gate (native): FAILED" in out
    assert "FAIL csr events[b, :] @ M native equivalence" in out
