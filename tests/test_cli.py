"""The command line and the results files."""
import json
import os

import pandas as pd
import pytest

from evbench import FAMILIES
from evbench.harness.results import write_atomic
from evbench.catalogue import PRODUCTS
from evbench.cli import main

from .twins import assert_twins_equal


def test_catalogue_lists_every_family_and_product(capsys):
    assert main(["catalogue"]) == 0
    out = capsys.readouterr().out
    for fam in FAMILIES.all():
        assert fam.name in out
    for product in PRODUCTS:
        assert product.expr in out


def test_validate_writes_a_table(tmp_path, capsys):
    assert main(["validate", "--family", "dense", "--backend", "native", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "events @ M" in out and "pass" in out
    (machine_dir,) = tmp_path.iterdir()
    (csv,) = machine_dir.glob("validate-quick-*.csv")
    frame = pd.read_csv(csv)
    assert list(frame["product"]) == [p.expr for p in PRODUCTS]
    assert (frame["status"] == "pass").all() and (frame["cases"] > 0).all()
    assert (frame["max_error"] <= frame["tolerance"]).all()
    records = json.loads(csv.with_suffix(".json").read_text())
    assert len(records) == len(PRODUCTS)
    meta = json.loads(next(machine_dir.glob("*.meta.json")).read_text())
    assert meta["profile"] == "quick" and "jax" in meta
    for table in machine_dir.glob("*.csv"):  # validate and checks, read back by the project's reader
        assert_twins_equal(table)


def test_bad_family_name_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--family", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "r.csv"
    write_atomic(target, "old\n")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # fails after the new data is half written
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary left behind
