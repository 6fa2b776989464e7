"""The validation gate as CI systems read it: a JUnit XML file (one test case per family ×
product × backend mode × check) and a Markdown summary for GitHub Actions' job page
(``$GITHUB_STEP_SUMMARY``)."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

#: a check's status as a JUnit outcome: a failure, an error, skipped, or passed (the rest)
_SKIPPED = ("unsupported", "missing")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _case_name(row) -> str:
    mode = _text(row.get("mode"))
    return f"{row['product']}{f' [{mode}]' if mode else ''} {row['check']}"


def junit_xml(checks: pd.DataFrame, gate: list, properties: dict | None = None) -> str:
    """The checks table (one row per check, :func:`evbench.harness.conformance.conformance`) as
    JUnit XML: one ``testsuite`` per backend, one ``testcase`` per row (``classname``
    ``evbench.<backend>.<family>``). ``FAIL`` rows are failures carrying the error, the tolerance,
    the smallest failing case and the snippet that reproduces it; ``error`` rows are errors;
    ``unsupported`` and ``missing`` rows are skipped with their reason; ``pass`` and ``differs``
    (a documented difference of event semantics) pass. A backend outside the gate is named in its
    suite's properties: its failures are reported, and do not fail evbench's exit status."""
    root = ET.Element("testsuites", name="evbench validate")
    totals = dict(tests=0, failures=0, errors=0, skipped=0)
    for backend, rows in checks.groupby("backend", sort=False):
        suite = ET.SubElement(root, "testsuite", name=f"evbench.{backend}")
        props = ET.SubElement(suite, "properties")
        for key, value in {**(properties or {}), "gated": str(backend in gate).lower()}.items():
            ET.SubElement(props, "property", name=str(key), value=_text(value))
        counts = dict(tests=0, failures=0, errors=0, skipped=0)
        seconds = 0.0
        for row in rows.to_dict("records"):
            counts["tests"] += 1
            seconds += float(row.get("seconds") or 0.0)
            case = ET.SubElement(suite, "testcase", classname=f"evbench.{backend}.{row['family']}",
                                 name=_case_name(row), time=f"{float(row.get('seconds') or 0.0):.3f}")
            status, detail = _text(row["status"]), _text(row.get("detail"))
            if status == "FAIL":
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", type="FAIL", message=_failure_message(row))
                failure.text = "\n".join(x for x in (
                    detail, f"smallest failing case: {_text(row.get('failing_case'))}" if row.get("failing_case") else "",
                    f"reproduce with:\n{_text(row.get('reproduce'))}" if _text(row.get("reproduce")) else "") if x)
            elif status == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", type="error", message=detail[:500]).text = detail
            elif status in _SKIPPED:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"{status}: {detail}"[:500])
            elif status == "differs":
                ET.SubElement(case, "system-out").text = f"differs (documented): {detail}"
        suite.set("time", f"{seconds:.3f}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _failure_message(row) -> str:
    err, tol, ratio = (row.get(k) for k in ("max_error", "tolerance", "worst_ratio"))
    if isinstance(tol, (int, float)) and tol and not math.isnan(tol):
        return f"max error {err:.3g} > tolerance {tol:.3g} (error/tolerance {ratio:.3g})"
    return _text(row.get("detail"))[:300] or "FAIL"


def step_summary(table: pd.DataFrame, checks: pd.DataFrame, gate: list, gate_failed: bool, seconds: float) -> str:
    """A Markdown summary of the conformance table for a CI job page: rows per backend and
    status, the gate's verdict, and the failing checks with their detail."""
    lines = ["## evbench validate", "",
             f"Gate ({', '.join(gate)}): **{'FAILED' if gate_failed else 'passed'}**, "
             f"{len(table)} family × product × backend rows, {len(checks)} checks, {seconds:.0f} s.", "",
             "| backend | " + " | ".join(_STATUSES) + " |", "| --- |" + " ---: |" * len(_STATUSES)]
    for backend, rows in table.groupby("backend", sort=False):
        counts = rows["status"].value_counts()
        lines.append(f"| {backend} | " + " | ".join(str(int(counts.get(s, 0))) for s in _STATUSES) + " |")
    bad = checks[checks["status"].isin(["FAIL", "error"])]
    if len(bad):
        lines += ["", f"### {len(bad)} failing checks", "",
                  "| family | product | backend | mode | check | status | detail |", "| --- " * 7 + "|"]
        for row in bad.head(50).to_dict("records"):
            detail = _text(row.get("detail")).replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(f"| {row['family']} | `{row['product']}` | {row['backend']} | {_text(row.get('mode'))} | "
                         f"{row['check']} | {row['status']} | {detail} |")
        if len(bad) > 50:
            lines.append(f"\n… and {len(bad) - 50} more (the checks table has them all).")
    return "\n".join(lines) + "\n"


_STATUSES = ("pass", "FAIL", "error", "unsupported", "missing")


def append_step_summary(path, text: str) -> Path:
    """Append ``text`` to the job summary file (``$GITHUB_STEP_SUMMARY``: appending is how
    steps add to it)."""
    path = Path(path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return path
