"""Benchmark data: storage variants of one patch, the batch repository and target lists.

Generated once into ``bench_output/data/`` and reused by later runs (the
generator skips files that exist; it writes atomically, so an existing file
is complete).  Each variant is a repository root of its own (``repo.json``,
``skymaps/`` and ``targets.csv`` copied from ``sample_repo/``), so the
``cutout`` command can be pointed at it with ``--repo``.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config


def _make_root(root: Path) -> Path:
    """A repository root with the sample repository's metadata files."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(config.SAMPLE_REPO / "repo.json", root / "repo.json")
    shutil.copy2(config.SAMPLE_REPO / "targets.csv", root / "targets.csv")
    shutil.copytree(config.SAMPLE_REPO / "skymaps", root / "skymaps", dirs_exist_ok=True)
    return root


def _coadd_path(root: Path, patch: int, band: str) -> Path:
    from cutout_cli.repository import Repository

    return Path(Repository(root).ref(None, config.TRACT, patch, band).path)


def variant_root(name: str) -> Path:
    return config.DATA / name


def prepare_variants(log=print) -> dict[str, Path]:
    """One full-size coadd (tract 5063, patch 33, band r) per storage variant; ``{name: file}``."""
    from cutout_cli._sample.generate import generate_repository

    files = {}
    for variant in config.VARIANTS:
        root = _make_root(variant_root(variant.name))
        start = time.perf_counter()
        written = generate_repository(root, patches=(config.PATCH,), bands=(config.BAND,),
                                      compression=variant.compression, tile=variant.tile, jobs=1, progress=False)
        if written:
            log(f"  generated {variant.name} in {time.perf_counter() - start:.1f} s")
        files[variant.name] = _coadd_path(root, config.PATCH, config.BAND)
    return files


def batch_root() -> Path:
    return config.DATA / "sample"


def prepare_batch_repo(log=print) -> Path:
    """The 8 default patches in the batch band, default compression (RICE_1, 128 px tiles)."""
    from cutout_cli._sample.generate import DEFAULT_PATCHES, generate_repository

    root = _make_root(batch_root())
    start = time.perf_counter()
    written = generate_repository(root, patches=DEFAULT_PATCHES, bands=(config.BATCH_BAND,), jobs=2, progress=False)
    if written:
        log(f"  generated {len(written)} batch coadds in {time.perf_counter() - start:.1f} s")
    return root


@dataclass(frozen=True)
class TargetList:
    """A target CSV for ``cutout batch`` and its plan (home file and LOCAL box of every target)."""

    csv: Path   # id,ra,dec
    plan: Path  # id,ra,dec,path,x0,y0 (LOCAL array begin of the box),cx,cy (LOCAL float centre)
    count: int


def make_targets(count: int, size: int = config.BATCH_SIZE, seed: int = config.SEED) -> TargetList:
    """``count`` targets uniformly random inside the inner boxes of the batch repository's patches.

    Positions are drawn in PARENT pixels, converted to RA/Dec with the tract
    WCS and written with 9 decimals; the plan is recomputed from the written
    text exactly as ``cutout batch`` does (WCS -> pixel, findPatch, centred box).
    """
    from cutout_cli.sky.box import centered_begin, round_half_up
    from cutout_cli.repository import Repository
    from cutout_cli._sample.generate import DEFAULT_PATCHES

    root = batch_root()
    out_csv = config.DATA / f"targets_{count}.csv"
    out_plan = config.DATA / f"targets_{count}_plan.csv"
    if out_csv.exists() and out_plan.exists():
        return TargetList(out_csv, out_plan, count)
    repo = Repository(root)
    tract = repo.skymap.tract(config.TRACT)
    rng = np.random.default_rng(seed)
    patches = [tract.patch(p) for p in DEFAULT_PATCHES]
    which = rng.integers(len(patches), size=count)
    # pixel (i) covers [i - 0.5, i + 0.5): these ranges round (half up) into the inner box
    u, v = rng.random(count), rng.random(count)
    x = np.array([patches[k].inner.begin_x for k in which]) - 0.5 + u * np.array([patches[k].inner.width for k in which])
    y = np.array([patches[k].inner.begin_y for k in which]) - 0.5 + v * np.array([patches[k].inner.height for k in which])
    ra, dec = tract.pixel_to_sky(x, y)
    ra_text = [f"{r:.9f}" for r in ra]
    dec_text = [f"{d:.9f}" for d in dec]
    px, py = tract.sky_to_pixel(np.array([float(t) for t in ra_text]), np.array([float(t) for t in dec_text]))
    pw, ph = tract.patch_inner_dimensions
    paths: dict[int, tuple[str, tuple[int, int]]] = {}
    rows = []
    for i in range(count):
        patch = tract.patch((round_half_up(px[i]) // pw, round_half_up(py[i]) // ph))
        if patch.index not in paths:
            paths[patch.index] = (repo.ref(None, tract.id, patch.index, config.BATCH_BAND).path,
                                  (patch.outer.begin_x, patch.outer.begin_y))
        path, (ox, oy) = paths[patch.index]
        x0, y0 = centered_begin(float(px[i]), size) - ox, centered_begin(float(py[i]), size) - oy
        rows.append((f"t{i:06d}", ra_text[i], dec_text[i], path, x0, y0,
                     f"{px[i] - ox:.6f}", f"{py[i] - oy:.6f}"))
    config.DATA.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "ra", "dec"))
        writer.writerows(r[:3] for r in rows)
    with open(out_plan, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "ra", "dec", "path", "x0", "y0", "cx", "cy"))
        writer.writerows(rows)
    return TargetList(out_csv, out_plan, count)


def box_positions(count: int, size: int, shape: tuple[int, int], seed: int) -> list[tuple[int, int]]:
    """``count`` LOCAL box corners (x0, y0) spread over an image, the box wholly inside.

    Stratified: the image is cut into a near-square grid of cells and each
    position is drawn in its own cell (cells in shuffled order), so successive
    repetitions land far apart and no tool re-reads a tile another just read.
    """
    rng = np.random.default_rng(seed)
    span_y, span_x = shape[0] - size, shape[1] - size
    side = max(1, math.ceil(math.sqrt(count)))
    cells = rng.permutation(side * side)[:count]
    out = []
    for cell in cells:
        cy, cx = divmod(int(cell), side)
        x0 = int((cx + rng.random()) * (span_x + 1) / side)
        y0 = int((cy + rng.random()) * (span_y + 1) / side)
        out.append((min(x0, span_x), min(y0, span_y)))
    return out


def warm_page_cache(*paths) -> None:
    """Read files once so that every tool then finds them in the OS page cache."""
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
