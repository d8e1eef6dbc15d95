"""The CLI's variant flags (``--variants``, ``--calibration-npz``, ``--variant-criteria``) and its
comparison table of variants (rows from :mod:`heimdall_studio.core.variant_table`).

Unavailable variants are listed under the table with their reason: a long reason in a column
would squeeze every other column in an 80-column terminal.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import Tolerance
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


def add_variant_arguments(p: argparse.ArgumentParser) -> None:
    from heimdall_studio.core.variants import VARIANT_CRITERIA, VARIANTS

    defaults = "; ".join(
        f"{name}: "
        + (f"atol {tol.atol:g}, rtol {tol.rtol:g}, mean_atol {tol.mean_atol:g}" if tol else "the fp32 criteria")
        for name, tol in VARIANT_CRITERIA.items()
    )
    group = p.add_argument_group("optimised variants (docs/variants.md)")
    group.add_argument(
        "--variants",
        default="",
        metavar="LIST",
        help=f"make, check and benchmark these variants of the export, each a file beside it: "
        f"{','.join(VARIANTS)} or all. Default parity criteria: {defaults}",
    )
    group.add_argument(
        "--calibration-npz",
        default="",
        metavar="FILE.npz",
        help="int8-static calibration inputs (default: the parity inputs)",
    )
    group.add_argument(
        "--variant-criteria",
        action="append",
        default=[],
        metavar="NAME=ATOL,RTOL,MEAN_ATOL",
        help="parity criteria of one variant instead of its default, repeatable",
    )


def variant_request(args: argparse.Namespace) -> dict[str, Any]:
    """The ``variants`` and ``variant_options`` fields of a request from the variant flags."""
    from heimdall_studio.core.variants import VARIANTS, VariantOptions, parse_variants

    if not args.variants:
        if args.calibration_npz or args.variant_criteria:
            raise BadInputError(
                "--calibration-npz and --variant-criteria need --variants.", "Example: --variants int8-static"
            )
        return {}
    names = parse_variants(args.variants)
    criteria: dict[str, Tolerance] = {}
    for text in args.variant_criteria:
        name, _, figures = text.partition("=")
        try:
            atol, rtol, mean_atol = (float(v) for v in figures.split(","))
        except ValueError:
            raise BadInputError(
                f"--variant-criteria {text!r} is not NAME=ATOL,RTOL,MEAN_ATOL.",
                "Example: --variant-criteria int8-dynamic=0.05,0.05,0.01",
            ) from None
        if name not in VARIANTS:
            raise BadInputError(
                f"--variant-criteria {text!r}: unknown variant {name!r}.", f"Use {', '.join(VARIANTS)}."
            )
        criteria[name] = Tolerance(atol=atol, rtol=rtol, mean_atol=mean_atol)
    if args.calibration_npz and not Path(args.calibration_npz).is_file():
        raise BadInputError(f"There is no file {args.calibration_npz} (--calibration-npz).")
    options = VariantOptions(names=names, calibration_npz=args.calibration_npz, criteria=criteria)
    return {"variants": names, "variant_options": options}
