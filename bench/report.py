"""Result rows, their targets (the performance budget in the README), the printed table and ``bench/results.md``.

A :class:`Row` holds hookline's samples and those of what it is compared with (Airflow 3.3.2, or a
baseline such as "new connection each time"); the ratio is always "how many times better hookline
is" (> 1 means hookline wins). Only measured figures are reported: a side that could not run shows
why (``n/a (not built)`` when the hookline component does not exist yet).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.timing import Stat, stat_of

__all__ = ["NOT_BUILT", "Row", "Target", "render_markdown", "render_table", "write_results"]

NOT_BUILT = "n/a (not built)"
#: Total throughput of N threads at or above this fraction of 1 thread's is within measurement
#: noise (cached lookups are GIL-bound: equal throughput means no lock convoy).
THREAD_NOISE_RATIO = 0.95


@dataclass(frozen=True)
class Target:
    """A budget (target) for one row.

    Attributes:
        text: The target as written beside the figures.
        max_value: Upper bound on hookline's median (in the row's unit), or None.
        min_ratio: Lower bound on the ratio (hookline better by at least this factor), or None.
        max_added: Upper bound on hookline's median minus the compared side's (an overhead budget,
            in the row's unit), or None.
    """

    text: str
    max_value: float | None = None
    min_ratio: float | None = None
    max_added: float | None = None


@dataclass
class Row:
    """One line of the results table.

    Attributes:
        group: Section heading the row belongs to.
        name: What was measured.
        unit: ``"s"`` (formatted as ns/µs/ms/s), ``"MB"``, ``"ops/s"`` or ``"calls"``.
        hookline: hookline's samples, or None with ``hookline_status`` saying why.
        other: The compared side's samples, or None.
        other_label: What ``other`` is (``"Airflow 3.3.2"``, ``"new connection each time"``).
        target: The budget, when one is set.
        higher_is_better: True for throughput; the ratio is then hookline / other.
        note: How it was measured, shown under the table.
    """

    group: str
    name: str
    unit: str = "s"
    hookline: Stat | None = None
    other: Stat | None = None
    other_label: str = ""
    target: Target | None = None
    higher_is_better: bool = False
    hookline_status: str = ""
    other_status: str = ""
    note: str = ""
    errors: list[str] = field(default_factory=list)

    def set_side(self, which: str, result: list[float] | str | None) -> None:
        """Store samples (a list) or a failure (a string) for ``which`` ("hookline"/"other")."""
        if result is None:
            return
        if isinstance(result, str):
            if result.startswith(("not built", NOT_BUILT)) or "No module named 'hookline" in result:
                status = NOT_BUILT
            else:
                status = "n/a (error)"
                self.errors.append(f"{which}: {result}")
            setattr(self, f"{which}_status", status)
        elif result:
            setattr(self, which, stat_of(result))

    @property
    def ratio(self) -> float | None:
        """How many times better hookline is (median against median), or None."""
        if self.hookline is None or self.other is None:
            return None
        hl, ot = self.hookline.median, self.other.median
        if self.higher_is_better:
            return hl / ot if ot > 0 else None
        return ot / hl if hl > 0 else None

    @property
    def passed(self) -> bool | None:
        """Whether the target is met (None when there is no target or nothing to judge)."""
        if self.target is None or self.hookline is None:
            return None
        ok = True
        if self.target.max_value is not None:
            ok = ok and self.hookline.median <= self.target.max_value
        if self.target.min_ratio is not None:
            ratio = self.ratio
            if ratio is None:
                return None if self.target.max_value is None else ok
            ok = ok and ratio >= self.target.min_ratio
        if self.target.max_added is not None and self.other is not None:
            ok = ok and self.hookline.median - self.other.median <= self.target.max_added
        return ok


def fmt_value(value: float, unit: str) -> str:
    """Human form of ``value`` in ``unit`` (seconds become ns/µs/ms/s)."""
    if unit == "s":
        if value < 1e-6:
            return f"{value * 1e9:.0f} ns"
        if value < 1e-3:
            return f"{value * 1e6:.2f} µs"
        if value < 1:
            return f"{value * 1e3:.2f} ms"
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.2f} MB"
    if unit == "ops/s":
        return f"{value / 1e6:.2f} M/s" if value >= 1e6 else f"{value / 1e3:.0f} k/s"
    return f"{value:g} {unit}"


def _cells(row: Row) -> list[str]:
    def side(stat: Stat | None, status: str) -> tuple[str, str]:
        if stat is None:
            return (status or "-"), ""
        return fmt_value(stat.median, row.unit), fmt_value(stat.p99, row.unit)

    hl_med, hl_p99 = side(row.hookline, row.hookline_status)
    ot_med, ot_p99 = side(row.other, row.other_status)
    ratio = row.ratio
    passed = row.passed
    result = "" if passed is None else ("pass" if passed else "FAIL")
    n = str(row.hookline.n) if row.hookline else ""
    return [
        row.name,
        hl_med,
        hl_p99,
        row.other_label if (row.other or row.other_status) else "",
        ot_med,
        ot_p99,
        f"{ratio:.1f}x" if ratio is not None else "",
        row.target.text if row.target else "",
        result,
        n,
    ]


HEADERS = [
    "operation",
    "hookline median",
    "hookline p99",
    "compared with",
    "median",
    "p99",
    "ratio",
    "target",
    "result",
    "n",
]


def render_table(rows: Sequence[Row]) -> str:
    """A plain-text table for the terminal, grouped by section."""
    lines: list[str] = []
    table = [HEADERS] + [_cells(r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
    group = None
    for row, cells in zip(rows, table[1:], strict=True):
        if row.group != group:
            group = row.group
            lines.append("")
            lines.append(f"== {group}")
            lines.append("  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)))
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines).lstrip("\n")


def render_markdown(rows: Sequence[Row], meta: dict[str, str]) -> str:
    """The whole ``results.md`` document."""
    out = ["# hookline benchmark results", ""]
    out += [f"- **{k}**: {v}" for k, v in meta.items()]
    out += [
        "",
        "Per-call times are the mean of a batch of calls (batches of about 0.5 ms), collected over",
        "several fresh worker processes per side, run alternately; warm-up batches are discarded.",
        "*ratio* = how many times better hookline is than what it is compared with (median vs",
        "median; > 1 means hookline wins). *n* = number of hookline samples.",
        "",
    ]
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            out += ["", f"## {group}", ""]
            out.append("| " + " | ".join(HEADERS) + " |")
            out.append("|" + "|".join("---" for _ in HEADERS) + "|")
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    behind = [
        r
        for r in rows
        if r.passed is False
        or (
            r.ratio is not None
            and r.ratio < 1
            and r.passed is not True
            and not r.name.startswith("control")
            and "floor" not in r.name
            # thread scaling is GIL-bound: within noise of 1 thread is not behind
            and not (r.other_label == "1 thread" and r.ratio >= THREAD_NOISE_RATIO)
        )
    ]
    if behind:
        out += ["", "## Rows where hookline misses its target or is behind", ""]
        for r in behind:
            why = "misses its target" if r.passed is False else "is behind"
            ratio = f" (ratio {r.ratio:.2f}x)" if r.ratio is not None else ""
            out.append(f"- **{r.name}**: {why}{ratio}; profile with `python -m bench.profile`.")
    not_built = [r for r in rows if NOT_BUILT in (r.hookline_status, r.other_status)]
    if not_built:
        out += ["", "## Not built yet", ""]
        out += [f"- {r.name}" for r in not_built]
    failed = [r for r in rows if r.errors]
    if failed:
        out += ["", "## Errors", ""]
        out += [f"- **{r.name}**: {err}" for r in failed for err in r.errors]
    notes = [r for r in rows if r.note]
    if notes:
        out += ["", "## How each row was measured", ""]
        out += [f"- **{r.name}**: {r.note}" for r in notes]
    return "\n".join(out) + "\n"


def default_meta(extra: dict[str, str]) -> dict[str, str]:
    """Run metadata: date, host, CPU count, Python version, plus ``extra``."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "platform": platform.platform(terse=True),
        **extra,
    }


def write_results(path: Path, rows: Sequence[Row], meta: dict[str, str]) -> None:
    """Write ``results.md`` to ``path``."""
    path.write_text(render_markdown(rows, meta), encoding="utf-8")
