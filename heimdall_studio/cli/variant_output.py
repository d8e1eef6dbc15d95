"""The CLI's comparison table of variants (rows from :mod:`heimdall_studio.core.variant_table`).

Unavailable variants are listed under the table with their reason: a long reason in a column
would squeeze every other column in an 80-column terminal.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from heimdall_studio.core.variant_table import COLUMNS, variant_rows

SHORT = {"device": "dev", "× PyTorch": "×torch", "size MB": "MB", "max abs": "max|err|", "mean abs": "mean|err|"}


def variant_table(report: dict[str, Any]) -> Table | None:
    rows = variant_rows(report)
    if not rows:
        return None
    missing = [(row[0], row[-1].removeprefix("unavailable: ")) for row in rows if row[-1].startswith("unavailable: ")]
    table = Table(
        title="Variants (×: other p50 / variant p50; errors against PyTorch)",
        title_justify="left",
        caption="\n".join(escape(f"{name}: not available — {reason}") for name, reason in missing) or None,
        caption_justify="left",
        box=None,  # no rules: ten columns fit in 80 characters
        pad_edge=False,
        header_style="bold",
    )
    for col in COLUMNS:
        left = col in ("variant", "device", "parity")
        table.add_column(SHORT.get(col, col), justify="left" if left else "right", no_wrap=True)
    for row in rows:
        if not row[-1].startswith("unavailable: "):
            table.add_row(*(escape(cell) for cell in row))
    return table
