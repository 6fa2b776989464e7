"""A results table and its JSON twin, both read by the project's reader (``read_table``), hold
the same columns and values: what every test that writes tables checks."""
import math
from pathlib import Path

import numpy as np
import pandas as pd

from evbench.harness import results


def cells(series) -> list:
    """A column's values as (kind, value): text stays text, numbers compare bit for bit (NaN
    equal to NaN), booleans apart from numbers; missing is None."""
    out = []
    for v in series:
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)) or v is pd.NA:
            out.append(None)
        elif isinstance(v, (bool, np.bool_)):
            out.append(("bool", bool(v)))
        elif isinstance(v, str):
            out.append(("text", v))
        else:
            out.append(("number", float(v).hex()))
    return out


def assert_twins_equal(csv: Path, table=None) -> pd.DataFrame:
    """The CSV and its JSON twin, each read by the project's reader, hold the same columns and
    the same values, value for value; the CSV's frame."""
    twin = csv.with_suffix(".json")
    assert twin.exists(), f"{csv} has no JSON twin"
    a, b = results.read_table(csv, table), results.read_table(twin, table)
    assert list(a.columns) == list(b.columns), csv
    assert len(a) == len(b), csv
    for c in a.columns:
        x, y = cells(a[c]), cells(b[c])
        bad = [(i, p, q) for i, (p, q) in enumerate(zip(x, y)) if p != q]
        assert not bad, (csv.name, c, len(bad), bad[:3])
    return a
