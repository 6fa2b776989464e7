"""``evbench validate``: every backend's operators against the references, the conformance table.

:func:`~evbench.harness.conformance.conformance` runs the checks (one long row per check);
:func:`summary` folds them into one row per family × product × backend mode (the table
printed and written as ``validate-*``); :func:`run_command` is the command.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..peers import BACKENDS
from .checks import CHECKS
from .conformance import conformance
from .results import TABLES, Output, Transaction, Written, metadata, stamp, usage


def _cell(row) -> str:
    """A check's result in a few characters."""
    s = row.status
    if s == "pass":
        if row.check == "equivalence":
            return f"pass {row.worst_ratio:.2g}"
        if row.check == "semantics":
            return "value"
        return "pass"
    if s == "differs":
        return "differs: " + row.detail.split(" (")[0].replace("treats nonzero as 1", "nonzero=1")
    if s == "FAIL":
        if row.check == "semantics":
            return "FAIL: " + row.detail.split(",")[0]
        return f"FAIL {row.worst_ratio:.3g}" if row.worst_ratio and np.isfinite(row.worst_ratio) else "FAIL"
    return s


def summary(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per family × product × backend mode: the equivalence figures (``cases``,
    ``failed``, ``max_error``, ``tolerance``, ``worst_ratio``, ``failing_case``,
    ``reproduce``), one column per check with a short result, and ``status``: ``missing``,
    ``error`` or ``FAIL`` if any check says so, ``unsupported`` if the product is, else
    ``pass`` (``differs`` is reported, not failed)."""
    out = []
    keys = ["family", "product", "backend", "mode"] + (["device"] if "device" in checks.columns else [])
    for key, g in checks.groupby(keys, sort=False):
        fam, product, backend, mode = key[:4]
        device = key[4] if len(key) > 4 else ""
        by = {r.check: r for r in g.itertuples()}
        eq = by.get("equivalence") or by.get("statistics")
        statuses = set(g.status)
        if "missing" in statuses:
            status = "missing"
        elif "error" in statuses:
            status = "error"
        elif "FAIL" in statuses:
            status = "FAIL"
        elif eq.status == "unsupported":
            status = "unsupported"
        else:
            status = "pass"
        row = dict(family=fam, product=product, backend=backend, mode=mode, device=device,
                   event_driven=eq.event_driven, cases=eq.cases, failed=eq.failed, max_error=eq.max_error,
                   tolerance=eq.tolerance, worst_ratio=eq.worst_ratio, status=status)
        for c in CHECKS.names():
            row[c] = _cell(by[c]) if c in by else "-"
        row.update(failing_case=eq.failing_case, reproduce=eq.reproduce, seconds=round(float(g.seconds.sum()), 3),
                   detail="; ".join(f"{r.check}: {r.detail}" for r in g.itertuples()
                                    if r.detail and r.status != "pass"),
                   note=eq.note)
        out.append(row)
    return pd.DataFrame(out)


def conformance_table(table) -> str:
    """The summary table as text, one line per family × product × backend mode; an
    unsupported product is one line with the reason, and so is a backend mode unsupported
    (or missing) for every product of a family."""
    from .console import fixed_width

    key_columns, checks = ("family", "product", "backend", "mode"), CHECKS.names()
    columns = (*key_columns, *checks, "status")

    def reason(row):
        return f"{row['status']}: " + row["detail"].split(": ", 1)[-1].split("; ")[0][:80]

    rows = []
    drawn = [c.name for c in CHECKS if c.kind == "drawn" and c.name in table.columns]
    for (fam, backend, mode), g in table.groupby(["family", "backend", "mode"], sort=False):
        records = g.to_dict("records")
        if all(r["status"] in ("missing", "unsupported") for r in records) and (g[drawn] == "-").all(axis=None):
            rows.append(dict(zip(columns, [fam, "(every product)", backend, mode] + [""] * len(checks)
                                 + [reason(records[0])])))
            continue
        for r in records:
            if r["status"] == "unsupported":
                r = {**{c: "" for c in columns}, **{c: r[c] for c in key_columns}, "status": reason(r)}
            rows.append({c: r.get(c, "-") for c in columns})
    return fixed_width(pd.DataFrame(rows, columns=list(columns)), columns)


@dataclass
class ValidateOptions:
    """``evbench validate``: which families and backends (none, or "all": every one), which
    more backends gate the exit status besides ``native``, the profile, worker processes,
    where the results go, and a JUnit XML file to write for a CI system (None: none)."""

    families: list = field(default_factory=list)
    backends: list = field(default_factory=list)
    gate: list = field(default_factory=list)
    profile: str = "quick"
    jobs: int = 1
    output: Output = field(default_factory=Output)
    progress: bool = True
    junit_xml: str | None = None


@dataclass
class ValidateOutcome:
    code: int
    table: pd.DataFrame
    checks: pd.DataFrame
    written: Written
    seconds: float
    gate: list
    gate_failed: bool

    @property
    def result(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.table["status"].value_counts().items())
        gate = f"the gate ({', '.join(self.gate)}) {'FAILED' if self.gate_failed else 'passed'}"
        return f"{len(self.table)} family × product × backend rows: {counts}; {gate}"


@usage
def resolve_options(options: ValidateOptions) -> list[str]:
    """The gate's backends (``native`` and ``options.gate``); ``ValueError`` naming a bad name."""
    from ..catalogue import FAMILIES
    from .profiles import VALIDATION_PROFILES

    FAMILIES.select(options.families)
    BACKENDS.select(options.backends)
    VALIDATION_PROFILES.get(options.profile)
    if options.jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {options.jobs}")
    gate = ["native"] + [b.name for b in BACKENDS.select(options.gate) if b.name != "native"] if options.gate else ["native"]
    return gate


def run_command(options: ValidateOptions) -> ValidateOutcome:
    """Validate, print the table and the failures, write ``validate-<profile>-<stamp>`` (one
    row per family × product × backend mode), ``checks-<profile>-<stamp>`` (one row per
    check) and their metadata. Exit code 1 when a gated backend fails or is missing."""
    import jax

    gate = resolve_options(options)
    folder = options.output.check()
    if options.junit_xml:
        Output(into=Path(options.junit_xml).parent or ".").check()
    jax.config.update("jax_enable_x64", True)  # float64 operators; float32 ones are unchanged
    selected = BACKENDS.select(options.backends)
    names = [b.name for b in selected] + [g for g in gate if g not in {b.name for b in selected}]
    t0 = time.perf_counter()
    checks = conformance(options.families, profile=options.profile, backend_names=names,
                         progress=options.progress, jobs=options.jobs)
    seconds = time.perf_counter() - t0
    table = summary(checks)
    print(conformance_table(table))
    bad = checks[checks.status.isin(["FAIL", "error"])]
    for row in bad.itertuples():
        where = f"{row.backend}[{row.mode}]" if row.mode else row.backend
        print(f"\n{row.status} {row.family} {row.product} {where} {row.check}: {row.detail}".rstrip(": "))
        if row.check in ("equivalence", "statistics") and row.status == "FAIL":
            print(f"  {row.failed}/{row.cases} failing; max error {row.max_error:.3g}, tolerance {row.tolerance:.3g}")
        if row.failing_case:
            print(f"  smallest case: {row.failing_case}")
        if row.reproduce and row.backend in gate:
            print("  reproduce with:\n    " + row.reproduce.rstrip().replace("\n", "\n    "))
    st = stamp()
    written = Written()
    versions = {b.name: b.available()[1] for b in BACKENDS.select(names)}
    with Transaction() as tx:
        written.tables["validate"] = tx.table(TABLES.get("validate"), table, folder, options.profile, st)
        written.tables["checks"] = tx.table(TABLES.get("checks"), checks, folder, options.profile, st)
        written.meta = tx.meta(folder / f"validate-{options.profile}-{st}.meta.json",
                               metadata(seconds=seconds, profile=options.profile, backends=versions, gate=gate))
    failing = table[table.status.isin(["FAIL", "error"])]
    gated = table[table.backend.isin(gate) & table.status.isin(["FAIL", "error", "missing"])]
    counts = ", ".join(f"{b}: " + " ".join(f"{n} {s}" for s, n in g.status.value_counts().items())
                       for b, g in table.groupby("backend", sort=False))
    csv, js = written.tables["validate"]
    checks_csv, checks_js = written.tables["checks"]
    print(f"\n{len(table)} family × product × backend rows ({counts}); {int(table.cases.sum())} equivalence "
          f"cases, {len(checks)} checks, {len(failing)} rows failing, {seconds:.0f} s.\n"
          f"Gate ({', '.join(gate)}): {'FAILED' if len(gated) else 'passed'}.\n"
          f"Written: {csv}, {js} (one row per family × product × backend), "
          f"{checks_csv}, {checks_js} (one row per check)")
    _ci_reports(options, table, checks, gate, bool(len(gated)), seconds, versions)
    return ValidateOutcome(1 if len(gated) else 0, table, checks, written, seconds, gate, bool(len(gated)))


def _ci_reports(options, table, checks, gate, gate_failed, seconds, versions) -> None:
    """The JUnit XML file asked for, and the job summary where ``$GITHUB_STEP_SUMMARY`` names one."""
    import os

    from .gate_reports import append_step_summary, junit_xml, step_summary
    from .results import write_atomic

    if options.junit_xml:
        path = write_atomic(options.junit_xml, junit_xml(checks, gate, dict(profile=options.profile, **{
            f"version.{name}": text for name, text in versions.items()})))
        print(f"JUnit XML: {path}")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        append_step_summary(os.environ["GITHUB_STEP_SUMMARY"], step_summary(table, checks, gate, gate_failed, seconds))
