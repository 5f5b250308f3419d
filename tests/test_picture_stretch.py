"""The default single-band picture looks like a survey thumbnail (issue 18): measured on the demo targets.

The targets of the suite's full-size patch (sample_patch33: the sample generator's galaxies and
stars with its noise), drawn by ``cutout batch --png`` with the defaults: the sky is dark, the
cores are graded, not clipped; zscale, the old default, is measured beside it as the contrast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import run_cli


def pictures(repo, tmp_path, *args):
    """The 8-bit PNGs of the patch's demo targets (60 px, band r), drawn with ``args``."""
    out = tmp_path / "out"
    done = run_cli("--repo", repo.root, "batch", Path(repo.root) / "targets.csv", "--size", 60, "--band", "r", "--png",
                   "--out", out, "-q", *args)
    assert done.returncode == 0, done.stderr
    found = [np.asarray(Image.open(path)) for path in sorted(out.glob("*.png"))]
    assert len(found) >= 2
    return found


def sky_and_clipping(picture: np.ndarray) -> tuple[float, float]:
    """The sky level (median of the picture's outer ring, 8 px wide, away from the centred target) and
    the fraction of pixels at 255."""
    ring = np.ones(picture.shape, bool)
    ring[8:-8, 8:-8] = False
    return float(np.median(picture[ring])), float((picture == 255).mean())


def test_default_sky_is_dark_and_cores_keep_structure(sample_patch33, tmp_path):
    for picture in pictures(sample_patch33, tmp_path):
        sky, clipped = sky_and_clipping(picture)
        assert 5 < sky < 60, sky  # dark, the noise still visible
        assert clipped < 0.01, clipped
        centre = picture[20:40, 20:40]
        assert centre.max() > sky + 150 and len(np.unique(centre)) > 30  # a graded core, not a white disc


def test_zscale_is_the_light_sky_the_default_replaced(sample_patch33, tmp_path):
    """The measurement tells the looks apart: zscale limits give a light sky and clipped cores."""
    from cutout_cli.repository import Repository
    from cutout_cli.writers.png import stretch_to_uint8

    repo = Repository(sample_patch33.root)
    cut = repo.cutout(53.318792, -27.844306, size=60, band="r", planes=("IMAGE",))
    sky_default, _ = sky_and_clipping(stretch_to_uint8(cut.image))
    sky_zscale, clipped_zscale = sky_and_clipping(stretch_to_uint8(cut.image, limits="zscale"))
    assert sky_zscale > sky_default + 60 and clipped_zscale > 0.01
