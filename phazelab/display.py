"""Tables a learner reads in a notebook: the columns that answer the question first, numbers formatted,
every other column one click away.

A raw pandas frame in JupyterLab prints floats to six places, lists of floats in full and NaN for "not
applicable", and a frame wider than the notebook is clipped. `table_view` shows the `main` columns
formatted (3 decimals, thousands separators, "yes"/"no", "–" for missing), and all columns behind a
"details" toggle (HTML <details>), each in a box that scrolls sideways instead of clipping.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["bullets", "format_frame", "format_value", "table_view", "text_block"]

MISSING = "–"


def format_value(value: Any, digits: int = 3) -> str:
    """One cell as text: floats to `digits` decimals (thousands separated at ≥ 1000), ints with
    separators, bools as yes/no, None/NaN as "–", lists/tuples/arrays of numbers as "[a, b]"."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return MISSING
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if v == int(v) and abs(v) >= 1000:
            return f"{int(v):,}"
        return f"{v:,.{digits}f}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(format_value(v, digits) for v in list(value)) + "]"
    return str(value)


def _flatten_index(df: pd.DataFrame) -> pd.DataFrame:
    """Named index levels (e.g. "topology" from pd.concat(..., names=[...])) become leading columns; an
    unnamed 0..n-1 level (a table's own row numbers) is dropped; another unnamed index becomes a column
    "" (e.g. a frame whose rows are labelled by name)."""
    out = df.copy()
    names = list(out.index.names)
    keep = [i for i, name in enumerate(names) if name is not None]
    unnamed = [i for i, name in enumerate(names) if name is None]
    labelled = [i for i in unnamed if not pd.api.types.is_integer_dtype(out.index.get_level_values(i))]
    if labelled:
        out.index = out.index.set_names(["" if n is None and i in labelled else n for i, n in enumerate(names)])
        keep += labelled
    if keep:
        drop = [i for i in range(len(names)) if i not in keep]
        if drop and len(drop) < len(names):
            out = out.reset_index(level=drop, drop=True)
        return out.reset_index()
    return out.reset_index(drop=True)


def format_frame(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """`df` with its index levels as columns (see `_flatten_index`) and every cell formatted as text by
    `format_value`; a repeated value of the first column (a group label such as the topology) is shown
    once per group."""
    out = _flatten_index(df)
    text = out.apply(lambda col: col.map(lambda v: format_value(v, digits))).astype(object)
    if len(text.columns) and len(df.index.names) > 1 and df.index.names[0] is not None:
        first = text.columns[0]
        text[first] = text[first].where(text[first].ne(text[first].shift()), "")
    return text


_NUMBER = re.compile(r"^(?:[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?%?|[-+]?∞|–|yes|no|\[.*\])$")
_PAD = "padding:2px 8px"  # the cells' own padding: a table inside a widget (ipywidgets HTML) gets none
_SHORT = 28  # a column of words this short stays on one line (labels such as "untrained (seed 1000)")


def _cell_styles(df: pd.DataFrame) -> list[str]:
    """One inline style per column: every cell padded; columns of words (not numbers, yes/no, "–" or
    lists) aligned left, where JupyterLab right-aligns every table cell; short ones kept on one line."""
    styles = []
    for c in df.columns:
        values = [str(v).strip() for v in df[c] if str(v).strip()]
        words = any(not _NUMBER.match(v) for v in values)
        short = max((len(v) for v in values), default=0) <= _SHORT
        styles.append(_PAD + (";text-align:left" if words else "") + (";white-space:nowrap" if short else ""))
    return styles


def _style_cells(table: str, styles: Sequence[str]) -> str:
    """`table` (pandas to_html) with each cell, headers included, given its column's style."""
    def row(match: re.Match[str]) -> str:
        cells = iter(styles)
        return re.sub(r"<(t[dh])>", lambda m: f'<{m[1]} style="{next(cells, _PAD)}">', match[0])

    return re.sub(r"<tr[^>]*>.*?</tr>", row, table, flags=re.S)


def _html(df: pd.DataFrame, box: str = "", kind: str = "main") -> str:
    """`df` (formatted text) as an HTML table in a box that scrolls sideways (and, with `box` CSS such
    as a max-height, downwards) instead of clipping. The box's class `phazelab-table-<kind>` ("main" or
    "details") lets the browser check find a main table that needs a scroll bar (one that should not)."""
    with pd.option_context("display.max_colwidth", None):  # pandas cuts long text with "…" otherwise
        table = df.to_html(index=False, escape=True, border=0, classes="phazelab-table")
    return (f"<div class='phazelab-table-{kind}' style='overflow:auto;max-width:100%;{box}'>"
            + _style_cells(table, _cell_styles(df)) + "</div>")


def table_view(df: pd.DataFrame, main: Sequence[str] | None = None, *, digits: int = 3,
               caption: str | None = None) -> Any:
    """An IPython HTML object: `caption`, then the `main` columns of `df` formatted (`format_frame`;
    index levels such as "topology" always lead), then, when `main` leaves columns out, a "details:
    all N columns" toggle with the whole table. Raises KeyError naming the columns of `main` that `df`
    lacks."""
    from IPython.display import HTML

    missing = [c for c in (main or []) if c not in df.columns]
    if missing:
        raise KeyError(f"table_view: main columns {missing} are not in the table (its columns: {list(df.columns)})")
    text = format_frame(df, digits)
    lead = [c for c in text.columns if c not in df.columns]  # the index levels turned columns
    parts = [f"<p><b>{html.escape(caption)}</b></p>"] if caption else []
    if main is None or len(main) >= len(df.columns):
        parts.append(_html(text))
    else:
        parts.append(_html(text[lead + list(main)]))
        # a wide, long table in a box of its own height: both of its scroll bars stay on the screen
        parts.append(f"<details><summary>details: all {len(text.columns)} columns</summary>"
                     f"{_html(text, 'max-height:60vh', 'details')}</details>")
    return HTML("\n".join(parts))


def bullets(lines: Sequence[str], title: str | None = None) -> Any:
    """Sentences as a Markdown bullet list (an IPython Markdown object). JupyterLab breaks printed lines
    anywhere, mid-word included (its output `pre` uses word-break: break-all); Markdown wraps between
    words. Backticks in the sentences render as code."""
    from IPython.display import Markdown

    head = f"**{title}**\n\n" if title else ""
    return Markdown(head + "\n".join(f"- {line}" for line in lines))


def text_block(text: str) -> Any:
    """Plain multi-line text (e.g. `lab.describe_stage1`) as Markdown paragraphs that wrap between words:
    each line of `text` its own line, blank lines kept as paragraph breaks."""
    from IPython.display import Markdown

    return Markdown("\n\n".join("  \n".join(_escape_md(line) for line in p.splitlines())
                                  for p in text.split("\n\n")))


def _escape_md(line: str) -> str:
    """A line shown as it reads: Markdown's emphasis and HTML characters escaped, code spans kept."""
    parts = line.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans (escapes do not work inside)
        parts[i] = "".join(ch if ch not in "*_<>#|[]" else "\\" + ch for ch in parts[i])
    return "`".join(parts)
