"""Plain text for the terminal: fixed-width tables and durations (no extra dependency)."""
from __future__ import annotations


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def fixed_width(frame, columns) -> str:
    """``columns`` of a pandas table as a fixed-width text table with a rule under the header."""
    columns = list(columns)
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in row] for row in frame[columns].itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def duration(seconds: float) -> str:
    """``"2 min 05 s"`` or ``"42 s"``."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"
