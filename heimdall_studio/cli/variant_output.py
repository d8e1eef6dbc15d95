"""The CLI's comparison table of variants (rows from :mod:`heimdall_studio.core.variant_table`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from heimdall_studio.core.variant_table import COLUMNS, variant_rows


def variant_table(report: dict[str, Any]) -> Table | None:
    rows = variant_rows(report)
    if not rows:
        return None
    table = Table(title="Variants (speed-up: other p50 / variant p50; errors against PyTorch)", title_justify="left")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("variant", "device", "parity") else "right")
    for row in rows:
        table.add_row(*row)
    return table
