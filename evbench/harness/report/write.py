"""Writing the report: the HTML page (every figure embedded, no external asset) and the
Markdown summary with its figures in ``report-figures/``, all atomically, in one transaction:
a report that cannot be finished (a full disk) leaves nothing behind."""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..results import Transaction
from .figures import STATUS_COLOURS, fmt, ordered


@dataclass
class Report:
    html: Path
    markdown: Path
    figures: list
    sections: list
    #: ``(file, why)`` of every results file refused as damaged
    refused: list


def _html_table(frame: pd.DataFrame, max_rows: int = 60) -> str:
    cols = [c for c in frame.columns if c not in ("source", "stamp")]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for _, r in frame.head(max_rows).iterrows():
        cells = []
        for c in cols:
            v = r[c]
            text = html.escape(fmt(v))
            word = str(v).split()[0] if isinstance(v, str) and v.strip() else ""
            colour = STATUS_COLOURS.get(word)
            ink = "white" if word in ("error", "FAIL", "pass") else "black"
            style = f' style="background:{colour};color:{ink}"' if colour else ""
            cells.append(f"<td{style}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class=note>… {len(frame) - max_rows} more rows</p>" if len(frame) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _md_table(frame: pd.DataFrame, max_rows: int = 40) -> str:
    cols = [c for c in frame.columns if c not in ("source", "stamp")]
    esc = lambda s: fmt(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.head(max_rows).iterrows():
        lines.append("| " + " | ".join(esc(r[c]) for c in cols) + " |")
    if len(frame) > max_rows:
        lines.append(f"\n… {len(frame) - max_rows} more rows (see the HTML page)")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:left}th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}.missing{color:#a33}
.note{color:#555;font-size:13px}figure{margin:1em 0}figcaption{font-size:13px;color:#555}"""


def _header(res) -> dict:
    metas = list(res.meta.values())
    machines = ordered([m.get("machine", "") for m in metas] + list(res.asv.get("machine", [])))
    dates = sorted(m.get("date", "") for m in metas if m.get("date"))
    versions = {}
    for m in metas:
        for k in ("python", "jax", "jaxlib", "numpy", "scipy", "evbench"):
            if m.get(k):
                versions.setdefault(k, m[k])
        for k, v in (m.get("backends") or {}).items():
            versions.setdefault(k, v)
    devices = ordered(str(d).split()[0] for m in metas for d in m.get("devices", []) if str(d).strip())
    return dict(machine=", ".join(machines) or "unknown", date=(f"{dates[0]} – {dates[-1]}" if len(dates) > 1
                                                              else (dates[0] if dates else "unknown")),
                devices=", ".join(map(str, devices)) or "unknown",
                versions="; ".join(f"{k} {v}" if not str(v).startswith(k) else str(v) for k, v in versions.items())
                or "unknown")


def write(res, sections, out: Path, title: str) -> Report:
    """``report.html``, ``report.md`` and ``report-figures/*.png`` into ``out``."""
    head = _header(res)
    fig_dir = out / "report-figures"
    figures = []
    with Transaction() as tx:
        for sec in sections:
            for fig in sec.figures:
                figures.append(tx.write(fig_dir / f"{fig.name}.png", fig.png))
        md = [f"# {title}", "", f"- machine: {head['machine']}", f"- date: {head['date']}",
              f"- devices: {head['devices']}", f"- versions: {head['versions']}",
              "- the same report with every figure embedded: `report.html`", ""]
        body = []
        toc = []
        for sec in sections:
            toc.append(f'<li><a href="#{sec.key}">{html.escape(sec.title)}</a>'
                       + (" <span class=missing>(no data)</span>" if sec.missing else "") + "</li>")
            body.append(f'<h2 id="{sec.key}">{html.escape(sec.title)}</h2>')
            md += [f"## {sec.title}", ""]
            if sec.missing:
                body.append(f"<p class=missing>{html.escape(sec.missing)}</p>")
                md += [f"*{sec.missing}*", ""]
                continue
            if sec.intro:
                body.append(f"<p>{_inline(sec.intro)}</p>")
                md += [sec.intro, ""]
            for fig in sec.figures:
                b64 = base64.b64encode(fig.png).decode("ascii")
                body.append(f'<figure><img src="data:image/png;base64,{b64}" alt="{html.escape(fig.caption)}">'
                            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")
                md += [f"![{fig.caption}](report-figures/{fig.name}.png)", ""]
            for name, table in sec.tables:
                body.append(f"<h3>{html.escape(name)}</h3>" + _html_table(table))
                md += [f"**{name}**", "", _md_table(table), ""]
            for note in sec.notes:
                body.append(f"<p class=note>{_inline(note)}</p>")
                md += [note, ""]
        page = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
                f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
                f"<p><b>machine</b> {html.escape(head['machine'])} · <b>date</b> {html.escape(head['date'])} · "
                f"<b>devices</b> {html.escape(head['devices'])}<br><b>versions</b> {html.escape(head['versions'])}</p>"
                f"<ul>{''.join(toc)}</ul>{''.join(body)}</body></html>\n")
        md_path = tx.write(out / "report.md", "\n".join(md) + "\n")
        html_path = tx.write(out / "report.html", page)
    return Report(html_path, md_path, figures, sections, list(res.refused))


def _inline(text: str) -> str:
    """Markdown's `code` and *emphasis* as HTML (the rest escaped)."""
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", t)
