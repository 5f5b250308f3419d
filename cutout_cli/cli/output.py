"""What ``cutout`` prints: records on stdout, diagnostics and progress on stderr, errors as flags.

Records (lists of dicts) print as a table, JSON or CSV.  JSON field names are
a stable contract (docs/conventions.md, section 6): records are printed with the keys they have,
in order; booleans are ``true``/``false`` in all three.  Tables are plain aligned text so they
survive pipes, ``less`` and log files, and fit the terminal's width (wrapped, never cut).  A
library error names its parameters (``overwrite=True``); :func:`flag_spelling` writes them as the
flags that set them (``--overwrite``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
import shutil
import sys

import click

from .state import CliState

__all__ = ["FORMATS", "Progress", "diagnostic", "echo_records", "error_text", "flag_spelling", "render"]

FORMATS = ("table", "json", "csv")

#: Library parameters set by a flag of another name (the others: ``band_key`` -> ``--band-key``).
FLAG_ALIASES = {"out_dir": "--out", "root": "--repo", "patterns": "--pattern"}


def flag_spelling(parameter: str, value=None) -> str:
    """How the command line gives a library parameter: ``overwrite`` -> ``--overwrite``,
    ``("mode", "partial")`` -> ``--mode partial``, ``max_pixels`` -> ``--max-pixels``."""
    flag = FLAG_ALIASES.get(parameter) or "--" + parameter.replace("_", "-")
    if value is None or isinstance(value, bool):
        return flag
    return f"{flag} {shlex.quote(str(value))}"


def error_text(err) -> str:
    """The one line of a :class:`~cutout_cli.errors.CutoutError` on stderr, options spelled as flags."""
    return f"cutout: error: {err.describe(flag_spelling)}"


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _text(value) -> str:
    """A value as CSV and tables show it: booleans as JSON spells them, no value empty."""
    value = _json_value(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell(value) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return _text(value)


def render(records: list[dict], fmt: str = "table", single: bool = False, width: int | None = None) -> str:
    """Text for ``records``; ``single`` prints one JSON object instead of a list (for commands whose
    output is one record by nature).  Tables fit in ``width`` columns (default: the terminal's, 80 when
    not a terminal): see :func:`_table`."""
    if fmt == "json":
        data = [{k: _json_value(v) for k, v in r.items()} for r in records]
        return json.dumps(data[0] if single and len(data) == 1 else data, indent=2)
    columns = list(dict.fromkeys(k for r in records for k in r))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({k: _text(v) for k, v in r.items()})
        return buffer.getvalue().rstrip("\n")
    if fmt == "table":
        if not records:
            return ""
        rows = [[_cell(r.get(c)) for c in columns] for r in records]
        return _table(columns, rows, width or shutil.get_terminal_size((80, 24)).columns)
    raise ValueError(f"unknown format {fmt!r}")


def _table(columns: list[str], rows: list[list[str]], width: int) -> str:
    """Aligned columns in ``width`` characters: one table when it fits; else one record as ``name value``
    lines, or several as blocks of the columns that fit, each block led by the first column (as pandas
    wraps a wide frame)."""
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    if sum(widths) + 2 * (len(widths) - 1) > width and len(rows) == 1:
        name_width = max(map(len, columns))
        return "\n".join(f"{c.ljust(name_width)}  {v}".rstrip() for c, v in zip(columns, rows[0]))
    blocks, block, used = [], [0], widths[0]
    for i in range(1, len(columns)):
        if used + 2 + widths[i] > width and len(block) > 1:
            blocks.append(block)
            block, used = [0], widths[0]
        block.append(i)
        used += 2 + widths[i]
    blocks.append(block)

    def line(cells, picked):
        return "  ".join(cells[i].ljust(widths[i]) for i in picked).rstrip()

    return "\n\n".join("\n".join([line(columns, b)] + [line(row, b) for row in rows]) for b in blocks)


def echo_records(records: list[dict], fmt: str, single: bool = False) -> None:
    """Print records on stdout (nothing for an empty table)."""
    text = render(records, fmt, single=single)
    if text:
        click.echo(text)


def _quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx is not None else None
    return bool(state and state.quiet)


def diagnostic(message: str) -> None:
    """A progress or diagnostic line on stderr (silenced by -q)."""
    if not _quiet():
        click.echo(message, err=True)


class Progress:
    """A rich progress bar on a terminal stderr (targets done, rate, time left); nothing otherwise or
    with -q.  Called as ``progress(done, total)``."""

    def __init__(self):
        self.enabled = sys.stderr.isatty() and not _quiet()
        self._bar = None
        self._task = None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._start(total)
        self._bar.advance(self._task, done)
        speed = self._bar.tasks[0].speed  # targets per second over rich's recent window
        self._bar.update(self._task, rate=f"{speed:,.0f}/s" if speed else "")

    def _start(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

        rate = TextColumn("{task.fields[rate]}")
        self._bar = Bar(TextColumn("cutouts"), BarColumn(), MofNCompleteColumn(), rate, TimeRemainingColumn(),
                        transient=True)
        self._bar.start()
        self._task = self._bar.add_task("batch", total=total, rate="")

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
