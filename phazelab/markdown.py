"""Markdown output for measured results: tables, and generated sections of README/RESULTS files.

A generated section sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers, so a command can
rewrite its own numbers in a hand-written document without touching the prose around them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .weights import atomic_write_text

__all__ = ["cell", "table", "to_html", "replace_marked"]


def cell(value: Any, digits: int = 3) -> str:
    """One table cell: floats to `digits` places, NaN/None as 'n/a', '|' escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def table(df: pd.DataFrame, digits: int = 3) -> str:
    """A pandas frame as a GitHub markdown table (pandas' to_markdown needs tabulate; this needs nothing)."""
    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v, digits) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def to_html(text: str) -> str:
    """Markdown (paragraphs, lists, **bold**, *italic*, `code`) as HTML for a widget or report.html, by
    mistune (CommonMark) with any raw HTML in `text` escaped, so a generated sentence can never inject markup."""
    import mistune

    return str(mistune.create_markdown(escape=True)(text))


def replace_marked(path: str | Path, name: str, body: str) -> bool:
    """Put `body` between the `name` markers in `path` (atomically); append a marked section when the file
    has none. Returns True when the markers already existed. Raises ValueError on a begin without an end."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"marker name must be lowercase letters, digits and '-', got {name!r}")
    path = Path(path)
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    i = text.find(begin)
    if i < 0:
        if end in text:
            raise ValueError(f"{path}: '{end}' without '{begin}'")
        atomic_write_text(path, (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n")
        return False
    j = text.find(end, i)
    if j < 0:
        raise ValueError(f"{path}: '{begin}' without a matching '{end}'; fix the file by hand")
    atomic_write_text(path, text[:i] + block + text[j + len(end):])
    return True
