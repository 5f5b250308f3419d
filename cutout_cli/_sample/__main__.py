"""Command line of the sample generator: ``python -m cutout_cli._sample [--root ...] [--patches ...]``.

Patches are sequential indices in the tract; ``--tile`` is a square tile side
in pixels (or ``rows`` for one-row tiles).  Errors of the package exit with
their :class:`~cutout_cli.errors.CutoutError` exit code.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from ..errors import CutoutError, InputError
from .generate import DEFAULT_BANDS, DEFAULT_PATCHES, DEFAULT_ROOT, DEFAULT_SEED, DEFAULT_TRACT, generate_repository

_PROG_NAME = "python -m cutout_cli._sample"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {text!r}") from None


def _tile_option(text: str) -> int | None:
    if text.strip().lower() in ("rows", "row", "none"):
        return None
    try:
        tile = int(text)
    except ValueError:
        raise InputError(f"--tile expects a tile side in pixels or 'rows', got {text!r}") from None
    if tile <= 0:
        raise InputError(f"--tile must be positive, got {tile}")
    return tile


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ROOT,
              show_default=True, help="Repository root (holds repo.json).")
@click.option("--tract", type=int, default=DEFAULT_TRACT, show_default=True)
@click.option("--patches", default=",".join(map(str, DEFAULT_PATCHES)), show_default=True,
              help="Comma-separated patch indices.")
@click.option("--bands", default=",".join(DEFAULT_BANDS), show_default=True, help="Comma-separated bands.")
@click.option("--targets", "targets_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Targets CSV (id,ra,dec) [default: ROOT/targets.csv].")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--compression", type=click.Choice(["rice", "gzip", "none"]), default="rice", show_default=True)
@click.option("--tile", default="128", show_default=True, help="Square tile side in pixels, or 'rows'.")
@click.option("--overwrite", is_flag=True, help="Rewrite existing files.")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
def cli(*, root, tract, patches, bands, targets_csv, seed, compression, tile, overwrite, jobs):
    """Generate the synthetic sample coadd repository."""
    start = time.perf_counter()
    try:
        written = generate_repository(
            root, tract=tract, patches=_int_list(patches),
            bands=tuple(b.strip() for b in bands.split(",") if b.strip()), targets_csv=targets_csv,
            seed=seed, compression=compression, tile=_tile_option(tile), overwrite=overwrite, jobs=jobs)
    except CutoutError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    click.echo(f"wrote {len(written)} file(s) into {root} in {time.perf_counter() - start:.1f} s")


def main(argv=None):
    """Entry point of ``python -m cutout_cli._sample``."""
    cli(args=argv, prog_name=_PROG_NAME)


if __name__ == "__main__":
    main()
