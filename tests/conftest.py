"""Shared fixtures: small repositories written with the project's own afw-layout writer.

The small skymap is lsst_cells_v1 with 200 x 200 px inner patches and a 20 px
border (240 x 240 px coadd files), so tests exercise real geometry, real FITS
files and real tile compression without full-size data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS_CSV = ROOT / "sample_repo" / "targets.csv"  # the 27 ECDFS AGN of the demo (docs/conventions.md, section 5)
SMALL_SKYMAP = {
    "type": "rings", "name": "small_cells", "num_rings": 120, "ra_start": 0.0, "pixel_scale": 0.2,
    "tract_overlap": 1.0 / 60.0, "projection": "TAN", "tract_builder": "cells",
    "patch_inner_dimensions": [200, 200], "patch_border": 20,
}
TEMPLATE = "deep_coadd/{tract}/{patch}/{band}/deep_coadd_{tract}_{patch}_{band}_{skymap}.fits"


def write_random_coadd(path, tract, patch, seed=0, compression="rice", tile=64):
    """A coadd of random pixels (distinct per plane) covering the patch outer box."""
    from cutout_cli._sample.headers import plane_headers
    from cutout_cli.writers.fits import compression_kwargs, write_exposure

    rng = np.random.default_rng(seed)
    shape = patch.outer.shape
    image = rng.normal(100.0, 10.0, size=shape).astype("f4")
    mask = rng.integers(0, 1 << 12, size=shape).astype("i4")
    variance = rng.uniform(50, 150, size=shape).astype("f4")
    headers = plane_headers(tract, patch)
    lossy = "rice" if compression == "rice" else compression
    compress = {"IMAGE": compression_kwargs(lossy, shape, tile), "VARIANCE": compression_kwargs(lossy, shape, tile),
                "MASK": compression_kwargs("gzip" if compression != "none" else "none", shape, tile)}
    write_exposure(path, [{"name": "TRACT", "value": tract.id}],
                   [(name, array, headers[name]) for name, array in
                    (("IMAGE", image), ("MASK", mask), ("VARIANCE", variance))],
                   overwrite=True, compress=compress)


def empty_small_repo(root: Path):
    """A repo.json repository of the small skymap with no coadds yet (the caller writes them)."""
    from cutout_cli.repository import Repository

    (root / "skymaps").mkdir(parents=True, exist_ok=True)
    (root / "skymaps" / "small.json").write_text(json.dumps(SMALL_SKYMAP))
    (root / "repo.json").write_text(json.dumps({"skymap": "skymaps/small.json", "datasets": {"deep_coadd": TEMPLATE}}))
    return Repository(root)


def make_small_repo(root: Path, positions, bands=("r",), compression="rice", tile=64):
    """A repository with the small skymap and a random coadd for each position's home patch."""
    repo = empty_small_repo(root)
    seed = 0
    for ra, dec in positions:
        tract, patch = repo.skymap.find_home(ra, dec)
        for band in bands:
            path = Path(repo.expected_path(None, patch, band))
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                seed += 1
                write_random_coadd(path, tract, patch, seed, compression, tile)
    return repo


TARGET_11 = (53.318792, -27.844306)
TARGET_8 = (53.194833, -28.146306)


@pytest.fixture(scope="session")
def small_repo(tmp_path_factory):
    """Small repository holding the home patches of two demo targets in bands r and z."""
    return make_small_repo(tmp_path_factory.mktemp("small_repo"), [TARGET_11, TARGET_8], bands=("r", "z"))


def run_cli(*args, cwd=None, env=None, input=None):
    """Run the real ``cutout`` console program; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cutout_cli", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, input=input, timeout=300)


def help_examples(help_text: str, program: str = "cutout") -> list[str]:
    """The lines of a --help's Examples section that run ``program``."""
    block = help_text.split("Examples:", 1)[1]
    return [line.strip() for line in block.splitlines() if line.strip().startswith(program + " ")]


@pytest.fixture(scope="session")
def sample_patch33(tmp_path_factory):
    """The suite's one full-size patch: the real generator's tract 5063 patch 33, bands r and z.

    The repository mirrors ``sample_repo`` (same repo.json and skymap) with the
    demo targets whose home patch is 33.
    """
    import csv
    import shutil

    from cutout_cli.repository import Repository
    from cutout_cli._sample.generate import generate_repository

    root = tmp_path_factory.mktemp("sample_patch33")
    shutil.copy(ROOT / "sample_repo" / "repo.json", root / "repo.json")
    shutil.copytree(ROOT / "sample_repo" / "skymaps", root / "skymaps")
    repo = Repository(root)
    with open(TARGETS_CSV, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if repo.home(float(r["ra"]), float(r["dec"])).index == 33]
    with open(root / "targets.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "ra", "dec"])
        writer.writeheader()
        writer.writerows(rows)
    generate_repository(root, patches=(33,), bands=("r", "z"), jobs=2, progress=False)
    return repo
