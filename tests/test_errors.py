"""Bad input gets a ValueError/TypeError that names the argument and the value."""
import numpy as np
import pytest

import evbench
from evbench.catalogue import fixed_num, get_family
from evbench.events import make_events


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown family 'nope'.*valid families: dense, coo, csr"):
        get_family("nope")


def test_unknown_product():
    with pytest.raises(ValueError, match=r"unknown product 'x'.*vecmat"):
        evbench.get_product("x")


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_conn_prob_outside_unit_interval(p):
    with pytest.raises(ValueError, match="conn_prob must be in"):
        get_family("fixed_prob").build(10, 10, conn_prob=p)


@pytest.mark.parametrize("n_rows,n_cols", [(0, 5), (5, 0), (-3, 4)])
def test_non_positive_sizes(n_rows, n_cols):
    with pytest.raises(ValueError, match=r"n_(rows|cols) must be >= 1"):
        get_family("csr").build(n_rows, n_cols)


def test_float_size_is_a_type_error():
    with pytest.raises(TypeError, match="n_rows must be an integer, got 10.0"):
        get_family("csr").build(10.0, 5)


def test_more_connections_than_partners_without_multapses():
    with pytest.raises(ValueError, match="conn_num=11 exceeds the 10 possible partners"):
        fixed_num(5, 10, 11)
    assert fixed_num(5, 10, 11, multapses=True).conn_num == 11  # allowed with multapses
    with pytest.raises(ValueError, match="conn_num=6 exceeds the 5 possible partners"):
        fixed_num(5, 10, 6, per_post=True)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(bad):
    w = np.ones((3, 4), np.float32)
    w[1, 2] = bad
    with pytest.raises(ValueError, match="weights must be finite"):
        evbench.DenseMatrix(w)
    with pytest.raises(ValueError, match="weights must be finite"):
        evbench.CSR([0, 1, 1, 1], [2], np.float32([bad]), (3, 4))


def test_integer_weights_are_rejected():
    with pytest.raises(TypeError, match="weights must be float32 or float64, got dtype int64"):
        evbench.DenseMatrix(np.ones((2, 2), np.int64))


def test_unsupported_dtype():
    with pytest.raises(TypeError, match=r"dtype must be one of \('float32', 'float64'\), got int32"):
        get_family("dense").build(3, 3, dtype="int32")


def test_event_dtype_must_match_the_weights():
    M = get_family("dense").build(4, 3, dtype="float32")
    with pytest.raises(TypeError, match="events must be bool or float32 .* got float64"):
        np.zeros(4, np.float64) @ M
    with pytest.raises(TypeError, match="events must be bool or floating .* got dtype int64"):
        M.vecmat(np.zeros(4, np.int64))


@pytest.mark.parametrize("family", list(evbench.FAMILIES.names()))
def test_event_shape_mismatch_is_never_broadcast(family):
    M = get_family(family).build(4, 3)
    with pytest.raises(ValueError, match=r"events has shape \(3,\); events @ M needs \(4,\)"):
        M.vecmat(np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"events has shape \(4,\); M @ events needs \(3,\)"):
        M.matvec(np.zeros(4, bool))
    with pytest.raises(ValueError, match=r"events has shape \(2, 3\); events @ M needs \(batch, 4\)"):
        np.zeros((2, 3), bool) @ M
    with pytest.raises(ValueError, match=r"events has shape \(2, 2, 4\)"):
        M.vecmat(np.zeros((2, 2, 4), bool))


def test_inconsistent_sparse_arrays():
    with pytest.raises(ValueError, match=r"indptr must have shape \(4,\)"):
        evbench.CSR([0, 1], [0], 1.0, (3, 3))
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        evbench.CSR([0, 2, 1, 2], [0, 1], 1.0, (3, 3))
    with pytest.raises(ValueError, match=r"indices entries must be in \[0, 3\), got 3"):
        evbench.CSR([0, 1, 1, 1], [3], 1.0, (3, 3))
    with pytest.raises(ValueError, match=r"weights must be a scalar or have shape \(1,\), got \(2,\)"):
        evbench.CSR([0, 1, 1, 1], [0], np.float32([1, 2]), (3, 3))
    with pytest.raises(ValueError, match="row and col must have the same length"):
        evbench.COO([0, 1], [0], 1.0, (3, 3))
    with pytest.raises(ValueError, match="indices must have 3 rows"):
        evbench.FixedNumPerPre(np.zeros((2, 2), np.int32), 1.0, (3, 3))


@pytest.mark.parametrize("dtype", [np.uint64, np.uint32, np.uint8, np.int64])
def test_unsigned_index_pointers_do_not_wrap(dtype):
    """np.diff wraps on unsigned integers and a cast to int32 drops high bits: a falling or
    out-of-range indptr is refused whatever its integer dtype, never stored wrapped."""
    indices, w = np.array([1, 3, 0, 2, 3]), np.float32([1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match=r"indptr entries must be in \[0, len\(indices\)=5\], got 7 at row 1"):
        evbench.CSR(np.array([0, 7, 2, 5], dtype), indices, w, (3, 4))
    with pytest.raises(ValueError, match="indptr must be non-decreasing, it falls at row 1"):
        evbench.CSR(np.array([0, 3, 2, 5], dtype), indices, w, (3, 4))
    if np.iinfo(dtype).max > 2**33:
        with pytest.raises(ValueError, match=rf"got {2**32 + 2} at row 1"):
            evbench.CSR(np.array([0, 2**32 + 2, 2**32 + 2, 5], dtype), indices, w, (3, 4))
    M = evbench.CSR(np.array([0, 2, 2, 5], dtype), indices, w, (3, 4))
    assert M.max_row_nnz == 3 and np.asarray(M.indptr).tolist() == [0, 2, 2, 5]
    np.testing.assert_array_equal(np.asarray(np.array([True, False, True]) @ M), [3, 1, 4, 7])
    C = evbench.CSC(np.array([0, 2, 2, 5], dtype), indices, w, (4, 3))
    np.testing.assert_array_equal(np.asarray(C @ np.array([True, False, True])), [3, 1, 4, 7])


def test_unknown_structure_option():
    with pytest.raises(ValueError, match=r"unknown option 'multapse' for family 'fixed_per_pre'"):
        get_family("fixed_per_pre").build(5, 5, multapse=True)
    with pytest.raises(ValueError, match=r"option weights='heavy' for family 'csr' must be one of"):
        get_family("csr").build(5, 5, weights="heavy")


@pytest.mark.parametrize("kwargs,match", [
    (dict(active=1.5), "active must be in"),
    (dict(active=20), "active=20 exceeds n=10"),
    (dict(active=0.1, dtype="int8"), "dtype must be 'bool', 'float32' or 'float64'"),
    (dict(active=0.1, values="signed"), "values='signed' needs a floating dtype"),
    (dict(active=0.1, batch=0), "batch must be >= 1"),
    (dict(active=0.1, seed=-1), "seed must be >= 0"),
])
def test_make_events_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_events(10, **kwargs)
