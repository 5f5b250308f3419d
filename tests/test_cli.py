"""The command-line contract: records, field names, batch, exit codes, help."""

import csv
import json
import re

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from cutout_cli.cli import COMMANDS

from .conftest import TARGET_8, TARGET_11, help_examples, run_cli

BOX_FIELDS = {"begin_x", "begin_y", "end_x", "end_y", "width", "height", "min_x", "min_y", "max_x", "max_y"}


def test_query_lists_home_patch_with_stable_fields(small_repo):
    result = run_cli("--repo", small_repo.root, "query", "--band", "r", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}",
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert records and {"tract", "patch", "band", "path", *BOX_FIELDS} <= set(records[0])
    homes = [r for r in records if r["home"]]
    home = small_repo.home(*TARGET_11)
    assert [(r["tract"], r["patch"]) for r in homes] == [(home.tract, home.index)]
    assert records == sorted(records, key=lambda r: (r["tract"], r["patch"], r["band"]))
    assert homes[0]["width"] == 240 and homes[0]["end_x"] - homes[0]["begin_x"] == 240


def test_query_every_band_and_csv(small_repo):
    result = run_cli("--repo", small_repo.root, "query", "--pos", f"{TARGET_8[0]} {TARGET_8[1]}", "--format", "csv")
    assert result.returncode == 0
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert {r["band"] for r in rows} == {"r", "z"}


def test_query_circle_finds_more_than_the_point(small_repo):
    point = run_cli("--repo", small_repo.root, "query", "deep_coadd", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}",
                    "--format", "json")
    circle = run_cli("--repo", small_repo.root, "query", "--pos", f"CIRCLE {TARGET_11[0]} {TARGET_11[1]} 0.6",
                     "--format", "json")
    assert circle.returncode == 0
    assert len(json.loads(circle.stdout)) > len(json.loads(point.stdout))


def test_query_nothing_covers(small_repo):
    result = run_cli("--repo", small_repo.root, "query", "--band", "r", "--pos", "10 10")
    assert result.returncode == 3 and result.stdout == "" and "no deep_coadd in band r covers" in result.stderr


def test_bbox_patch_parent_local_and_inner():
    parent = json.loads(run_cli("bbox", "--tract", 5063, "--patch", 14, "--format", "json").stdout)
    assert (parent["begin_x"], parent["begin_y"], parent["max_x"], parent["width"]) == (11800, 2800, 15199, 3400)
    local = json.loads(run_cli("bbox", "--tract", 5063, "--patch", "4,1", "--origin", "local", "--format", "json").stdout)
    assert (local["begin_x"], local["end_x"], local["max_y"], local["patch"]) == (0, 3400, 3399, 14)
    inner = json.loads(run_cli("bbox", "--tract", 5063, "--patch", 14, "--inner", "--format", "json").stdout)
    assert (inner["begin_x"], inner["end_x"]) == (12000, 15000)


@pytest.mark.parametrize("size, width", [("60arcsec", 300), ("1arcmin", 300), ("301", 301), ("50,40", 50)])
def test_bbox_for_position_uses_centred_rule(size, width):
    record = json.loads(run_cli("bbox", "--ra", "53.194833", "--dec", "-28.146306", "--size", size,
                                "--format", "json").stdout)
    assert (record["tract"], record["patch"]) == (5063, 14)
    assert (round(record["center_x"], 2), round(record["center_y"], 2)) == (13296.28, 3736.19)
    assert record["width"] == width
    assert record["begin_x"] == int(np.floor(record["center_x"] - width / 2 + 1))
    local = json.loads(run_cli("bbox", "--ra", "03:32:46.76", "--dec", "-28:08:46.7", "--size", size,
                               "--origin", "local", "--format", "json").stdout)
    assert local["begin_x"] == record["begin_x"] - 11800 and local["patch"] == 14


def test_batch_writes_cutouts_manifest_and_grid(small_repo, tmp_path):
    targets = tmp_path / "targets.csv"
    targets.write_text(
        "\ufeffID,RA,Dec,size\r\n"
        f"a11,{TARGET_11[0]},{TARGET_11[1]},\r\n"
        f"b8,{TARGET_8[0]},{TARGET_8[1]},7arcsec\r\n"
        "\r\n"
        "far,10.0,10.0,\r\n"
        "bad,abc,-27,\r\n"
        f"../evil,{TARGET_11[0]},{TARGET_11[1]},\r\n"
    )
    out = tmp_path / "out"
    result = run_cli("--repo", small_repo.root, "batch", targets, "--size", "21", "--band", "r", "--out", out,
                     "--png", "--grid", tmp_path / "grid.png", "--format", "json")
    assert result.returncode == 1, result.stderr  # two rows failed
    summary = json.loads(result.stdout)
    assert (summary["targets"], summary["ok"], summary["no_data"], summary["error"]) == (5, 3, 1, 1)
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [r["id"] for r in rows] == ["a11", "b8", "far", "bad", "../evil"]
    assert [r["status"] for r in rows] == ["ok", "ok", "no_data", "error", "ok"]
    assert "RA" in rows[3]["message"] or "abc" in rows[3]["message"]
    for row in rows:
        if row["status"] == "ok":
            path = out / row["path"].split("/")[-1]
            assert path.parent == out and path.exists() and path.with_suffix(".png").exists()
    with fits.open(out / "b8_r.fits") as cut:
        assert cut["IMAGE"].data.shape == (35, 35)  # the size column overrides --size
        assert cut[0].header["TARGETID"] == "b8"
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.mode == "RGB" and grid.size[0] > 200
    # a rerun skips finished targets and keeps their files
    mtime = (out / "a11_r.fits").stat().st_mtime_ns
    again = run_cli("--repo", small_repo.root, "batch", targets, "--size", "21", "--band", "r", "--out", out,
                    "--format", "json")
    assert json.loads(again.stdout)["skipped"] == 3 and (out / "a11_r.fits").stat().st_mtime_ns == mtime


def test_batch_bad_target_lists(small_repo, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    misnamed = tmp_path / "misnamed.csv"
    misnamed.write_text("label,ra,dec\nx,1,2\n")
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,ra,dec\n")
    for path, text in ((empty, "empty"), (misnamed, "lacks column(s) id"), (header_only, "no data rows"),
                       (tmp_path / "missing.csv", "does not exist")):
        result = run_cli("--repo", small_repo.root, "batch", path, "--size", "10", "--band", "r", "--out", tmp_path / "o")
        assert result.returncode == 2 and text in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, code, text", [
    (("subset", "--ra", "53.3", "--dec", "-27.8", "--size", "10", "--band", "r"), 2, "nothing to write"),
    (("bbox", "--ra", "53.3", "--dec", "-97", "--size", "10"), 2, "outside [-90, 90]"),
    (("bbox", "--ra", "53.3", "--dec", "-27", "--size", "10 furlongs"), 2, "cannot read size"),
    (("bbox", "--tract", "5063", "--patch", "100"), 3, "patch 100 is not in tract 5063"),
    (("bbox", "--tract", "99999", "--patch", "1"), 3, "tract 99999 is not in skymap"),
    (("query", "--pos", "POLYGON 1 2 3 4"), 2, "POLYGON takes at least 3 vertices"),
    (("--repo", "/nonexistent", "bbox", "--tract", "1", "--patch", "1"), 5, "does not exist"),
    (("frobnicate",), 2, "No such command"),
])
def test_errors_are_one_line_with_documented_codes(args, code, text):
    result = run_cli(*args)
    assert result.returncode == code, result.stderr
    assert text in result.stderr and "Traceback" not in result.stderr


def test_bad_repo_json(tmp_path):
    (tmp_path / "repo.json").write_text("{not json")
    result = run_cli("--repo", tmp_path, "bbox", "--tract", "1", "--patch", "1")
    assert result.returncode == 5 and "repo.json" in result.stderr
    (tmp_path / "repo.json").write_text(json.dumps({"skymap": "lsst_cells_v1", "datasets": {"x": "{tract}/{nope}.fits"}}))
    result = run_cli("--repo", tmp_path, "bbox", "--tract", "1", "--patch", "1")
    assert result.returncode == 5 and "unknown field(s) ['nope']" in result.stderr


def test_every_help_has_an_examples_section():
    assert "Examples:" in run_cli("--help").stdout
    for name in COMMANDS:
        text = run_cli(name, "--help").stdout
        assert re.search(rf"Examples:\n\s+cutout {name} ", text), name


LONG_RUNNING = {"serve"}  # a server runs until stopped: tests/test_serve.py runs its examples


@pytest.mark.parametrize("command", [None, *(name for name in COMMANDS if name not in LONG_RUNNING)])
def test_every_help_example_works(command, sample_patch33, tmp_path):
    """Run each example of each --help, as printed, against a sample-like repository."""
    import shlex

    from astropy.io import fits as afits

    (tmp_path / "sample_repo").symlink_to(sample_patch33.root)
    header = afits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.1, "CRVAL2": 2.2,
                           "CRPIX1": 200.5, "CRPIX2": 200.5, "CDELT1": -0.2 / 3600, "CDELT2": 0.2 / 3600})
    afits.PrimaryHDU(np.ones((400, 400), "f4"), header).writeto(tmp_path / "image.fits")
    (tmp_path / "images").mkdir()  # a folder of FITS images for `cutout index`
    afits.PrimaryHDU(np.ones((400, 400), "f4"), header).writeto(tmp_path / "images" / "image.fits")
    help_text = run_cli(*([command] if command else []), "--help").stdout
    examples = help_examples(help_text)
    assert len(examples) >= 2
    for example in examples:
        args = shlex.split(example)[1:]
        result = run_cli(*args, cwd=tmp_path, env={"CUTOUT_REPO": str(sample_patch33.root)})
        assert result.returncode == 0, f"{example}\n{result.stderr}"
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("verbosity", [("-v",), ("-vv",), ("--verbose",), ("-v", "-v")])
def test_verbose_prints_the_traceback_of_an_internal_error(tmp_path, verbosity):
    """An internal error is one line; with -v, -vv or --verbose also its traceback."""
    # a FITS file whose XY0 keyword LTV1 is text: the reader does not expect it (an internal error)
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.1, "CRVAL2": 2.2,
                          "CRPIX1": 20.5, "CRPIX2": 20.5, "CDELT1": -1e-4, "CDELT2": 1e-4, "LTV1": "abc", "LTV2": 0})
    fits.PrimaryHDU(np.ones((40, 40), "f4"), header).writeto(tmp_path / "odd.fits")
    args = ("subset", tmp_path / "odd.fits", "--ra", "150.1", "--dec", "2.2", "--size", "5", "-o", tmp_path / "c.fits")
    plain = run_cli(*args)
    assert plain.returncode == 70 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [plain.stderr.strip()] and "cutout: internal error: " in plain.stderr
    verbose = run_cli(*verbosity, *args)
    assert verbose.returncode == 70
    assert "Traceback (most recent call last)" in verbose.stderr and "cutout: internal error: " in verbose.stderr


def test_library_errors_name_parameters_and_the_cli_spells_them_as_flags(small_repo, tmp_path):
    from cutout_cli.cli.output import flag_spelling
    from cutout_cli.errors import OutputError
    from cutout_cli.writers.atomic import check_writable

    assert [flag_spelling(*option) for option in (("overwrite", True), ("max_pixels", None), ("mode", "partial"),
                                                   ("out_dir", None), ("root", None), ("band", "g,r,i"),
                                                   ("pos", "CIRCLE 1 2 3"))] == [
        "--overwrite", "--max-pixels", "--mode partial", "--out", "--repo", "--band g,r,i", "--pos 'CIRCLE 1 2 3'"]
    (tmp_path / "taken.png").write_bytes(b"x")
    with pytest.raises(OutputError) as info:
        check_writable(tmp_path / "taken.png", overwrite=False)
    assert str(info.value).endswith("exists (pass overwrite=True to replace it)")
    assert info.value.describe(flag_spelling).endswith("exists (pass --overwrite to replace it)")
    targets = tmp_path / "t.csv"  # a batch row's message in the manifest: Python spelling from the library...
    targets.write_text(f"id,ra,dec\na,{TARGET_11[0]},{TARGET_11[1]}\n")
    (row,) = small_repo.batch(targets, tmp_path / "lib", size=9)
    assert row["message"] == "no band (give band or a band column)"
    result = run_cli("--repo", small_repo.root, "batch", targets, "--size", "9", "--out", tmp_path / "cli")
    assert result.returncode == 1  # ... and flags from the command line
    assert list(csv.DictReader(open(tmp_path / "cli" / "manifest.csv")))[0]["message"] == \
        "no band (give --band or a band column)"
