"""Machine, versions and date of every results file read."""
from __future__ import annotations


import pandas as pd

from pathlib import Path

from .figures import Section, SectionSpec


def draw(res) -> Section:
    sec = Section(SECTION.key, SECTION.title)
    if not res.meta:
        sec.missing = "No .meta.json files: machine and versions unknown."
    rows = []
    for path, m in res.meta.items():
        backends = m.get("backends") or {}
        rows.append(dict(file=Path(path).name, machine=m.get("machine", ""), date=m.get("date", ""),
                         devices=", ".join(map(str, m.get("devices", []))), cpus=m.get("cpus", ""),
                         python=m.get("python", ""), jax=m.get("jax", ""), numpy=m.get("numpy", ""),
                         backends="; ".join(f"{k}: {v}" for k, v in backends.items()),
                         platform=m.get("platform", "")))
    if rows:
        sec.tables.append(("Per results file", pd.DataFrame(rows)))
    sec.notes.append(f"{len(res.files)} results files read.")
    return sec


SECTION = SectionSpec("machine", "Machine, versions, date", (), draw)
