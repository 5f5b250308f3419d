"""Everyday use of the command line and the API (issue 18): options anywhere, positions as typed,
one record schema per command, tables that fit the terminal, shell completion, astropy values in the API.

Real ``cutout`` processes (``run_cli``) on the small repository; completion through a real bash.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout_cli.cli.output import render
from cutout_cli.errors import InputError

from .conftest import TARGET_8, TARGET_11, run_cli

RA, DEC = TARGET_11
POSITION = f"{RA} {DEC}"
SEXAGESIMAL = ("03:33:16.51", "-27:50:39.5")  # TARGET_11 to 0.1 arcsec


def stdout_json(*args, **kwargs):
    done = run_cli(*args, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# -- global options after the command name -------------------------------------------------------

def test_global_options_after_the_command_mean_the_same(small_repo, tmp_path):
    before = run_cli("--repo", small_repo.root, "-q", "bbox", "--ra", RA, "--dec", DEC, "--size", 21)
    after = run_cli("bbox", "--ra", RA, "--dec", DEC, "--size", 21, "-q", "--repo", small_repo.root)
    assert before.returncode == after.returncode == 0, after.stderr
    assert after.stdout == before.stdout and after.stderr == before.stderr == ""
    # given after the command, --repo wins over $CUTOUT_REPO and over the group's --repo
    env = {"CUTOUT_REPO": str(tmp_path / "nowhere")}
    moved = run_cli("--repo", tmp_path / "nowhere", "query", "--pos", POSITION, "--repo", small_repo.root, env=env)
    assert moved.returncode == 0, moved.stderr
    loud = run_cli("--repo", small_repo.root, "query", "--pos", POSITION, "-q")
    assert loud.returncode == 0 and loud.stderr == ""  # the "2 dataset(s)" diagnostic silenced


def test_verbose_after_the_command_shows_the_traceback(tmp_path):
    from astropy.io import fits

    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.1, "CRVAL2": 2.2, "CRPIX1": 20.5,
                          "CRPIX2": 20.5, "CDELT1": -1e-4, "CDELT2": 1e-4, "LTV1": "abc", "LTV2": 0})
    fits.PrimaryHDU(np.ones((40, 40), "f4"), header).writeto(tmp_path / "odd.fits")
    args = ("subset", tmp_path / "odd.fits", "--ra", 150.1, "--dec", 2.2, "--size", 5, "-o", tmp_path / "c.fits")
    plain, verbose = run_cli(*args), run_cli(*args, "-v")
    assert plain.returncode == verbose.returncode == 70
    assert "Traceback" not in plain.stderr and "Traceback (most recent call last)" in verbose.stderr


def test_index_takes_only_the_output_options_after_its_name(tmp_path):
    (tmp_path / "empty").mkdir()
    assert run_cli("index", tmp_path / "empty", "-q").returncode in (0, 3)
    refused = run_cli("index", tmp_path / "empty", "--repo", tmp_path)
    assert refused.returncode == 2 and "--repo does not apply to cutout index" in refused.stderr


# -- positions as typed ---------------------------------------------------------------------------

@pytest.mark.parametrize("position", [("--pos", "53.3", "-27.8"), ("--pos", "03:33:16", "-27:50:39.5")])
def test_an_unquoted_negative_dec_says_how_to_quote(small_repo, position):
    done = run_cli("--repo", small_repo.root, "query", *position)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    ra, dec = position[1:]
    assert f'{dec} was read as an option' in done.stderr and f'--pos "{ra} {dec}"' in done.stderr
    assert f"--ra {ra} --dec {dec}" in done.stderr


def test_query_takes_ra_dec_as_subset_does(small_repo):
    by_pos = stdout_json("--repo", small_repo.root, "query", "--pos", POSITION, "--format", "json")
    by_ra_dec = stdout_json("--repo", small_repo.root, "query", "--ra", RA, "--dec", DEC, "--format", "json")
    by_text = stdout_json("--repo", small_repo.root, "query", "--ra", SEXAGESIMAL[0], "--dec", SEXAGESIMAL[1],
                          "--format", "json")
    assert by_ra_dec == by_pos and [r["path"] for r in by_text] == [r["path"] for r in by_pos]
    for args, text in [(("--pos", POSITION, "--ra", RA), "give --pos, or --ra and --dec"),
                       (("--ra", RA), "give both --ra and --dec"), ((), "give --pos, or --ra and --dec"),
                       (("--ra", "25:00:00", "--dec", DEC), "outside [0, 24)")]:
        done = run_cli("--repo", small_repo.root, "query", *args)
        assert done.returncode == 2 and text in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_query_takes_several_bands(small_repo):
    def paths(band):
        return [(r["tract"], r["patch"], r["band"])
                for r in stdout_json("--repo", small_repo.root, "query", "--band", band, "--pos", POSITION,
                                     "--format", "json")]

    both = paths("r,z")
    assert sorted(both) == sorted(paths("r") + paths("z")) and {b for *_, b in both} == {"r", "z"}
    assert [tp for *tp, _ in both] == sorted(tp for *tp, _ in both)  # by tract, then patch
    assert paths("z,r,z") == sorted(paths("z") + paths("r"), key=lambda r: (r[0], r[1], r[2] != "z"))


# -- one record schema per command ------------------------------------------------------------------

def test_booleans_are_spelled_alike_in_every_format(small_repo):
    args = ("--repo", small_repo.root, "query", "--pos", POSITION, "--band", "r")
    records = stdout_json(*args, "--format", "json")
    assert {type(r["home"]) for r in records} == {bool} and any(r["home"] for r in records)
    csv_text = run_cli(*args, "--format", "csv").stdout
    table = run_cli(*args, env={"COLUMNS": "1000"}).stdout
    for text in (csv_text, table):
        assert "true" in text and not {"True", "False", "yes", "no"} & set(text.replace(",", " ").split())


def test_subset_json_is_a_list_for_one_band_and_for_several(small_repo, tmp_path):
    common = ("--repo", small_repo.root, "subset", "--ra", RA, "--dec", DEC, "--size", 11, "--format", "json")
    one = stdout_json(*common, "--band", "r", "-o", tmp_path / "one.fits")
    two = stdout_json(*common, "--band", "r,z", "-o", tmp_path / "two_{band}.fits")
    assert isinstance(one, list) and isinstance(two, list) and [len(one), len(two)] == [1, 2]
    assert set(one[0]) == set(two[0]) and [r["band"] for r in two] == ["r", "z"]


def test_tables_fit_an_80_column_terminal_and_keep_every_value(small_repo, tmp_path):
    runs = [("query", "--pos", f"CIRCLE {RA} {DEC} 0.3"), ("bbox", "--ra", RA, "--dec", DEC, "--size", 21),
            ("subset", "--ra", RA, "--dec", DEC, "--size", 9, "--band", "r,z", "-o", tmp_path / "t_{band}.fits",
             "--overwrite")]
    for args in runs:
        records = stdout_json("--repo", small_repo.root, *args, "--format", "json")
        records = records if isinstance(records, list) else [records]
        table = run_cli("--repo", small_repo.root, *args, env={"COLUMNS": "80"}).stdout
        lines = table.splitlines()
        too_wide = [line for line in lines if len(line) > 80]
        paths = [str(r["path"]) for r in records if len(str(r.get("path"))) > 60]
        assert all(any(path in line for path in paths) for line in too_wide), table  # only paths stick out
        words = set(table.split())
        for record in records:
            for key, value in record.items():
                assert key in words
                shown = "true" if value is True else "false" if value is False else str(value)
                assert value in ("", None) or shown in words or f"{value:.6f}".rstrip("0") in words, (key, value)


cells = st.text(alphabet="abcxyz0123456789._-", min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["id", "tract", "patch", "band", "path", "ra", "dec", "complete"]),
                                cells, min_size=1), min_size=1, max_size=6), st.integers(20, 200))
def test_wrapped_tables_fit_and_lose_nothing(records, width):
    text = render(records, "table", width=width)
    columns = list(dict.fromkeys(k for r in records for k in r))
    widths = [max(len(c), *(len(r.get(c, "")) for r in records)) for c in columns]
    lead = max(widths[0], *map(len, columns))  # the leading column of a block, or the names of one record
    assert max(map(len, text.splitlines())) <= max(width, lead + 2 + max(widths))  # only a too-wide cell sticks out
    for column in columns:  # every header and every cell, in each record's row order
        assert column in text
    for record in records:
        for value in record.values():
            assert value in text


# -- shell completion -----------------------------------------------------------------------------

def test_bash_completion_completes_commands_and_options():
    program = Path(sys.executable).parent / "cutout"
    bash = shutil.which("bash")
    assert program.exists() and bash
    script = (f'eval "$(_CUTOUT_COMPLETE=bash_source {program})"; '
              'COMP_WORDS=(cutout su); COMP_CWORD=1; _cutout_completion cutout; echo "${COMPREPLY[@]}"; '
              'COMPREPLY=(); COMP_WORDS=(cutout subset --str); COMP_CWORD=2; _cutout_completion cutout; echo "${COMPREPLY[@]}"')
    done = subprocess.run([bash, "-c", script.replace("_cutout_completion cutout", f"_cutout_completion {program}")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["subset", "--stretch"]
    for shell in ("zsh", "fish"):
        source = subprocess.run([str(program)], env={"_CUTOUT_COMPLETE": f"{shell}_source", "PATH": "/usr/bin:/bin"},
                                capture_output=True, text=True, timeout=60)
        assert source.returncode == 0 and "cutout" in source.stdout and "_CUTOUT_COMPLETE" in source.stdout


def test_version():
    from cutout_cli import __version__

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"cutout, version {__version__}"


# -- the Python API takes astropy's values ---------------------------------------------------------

def test_api_positions_as_skycoord_angles_and_text(small_repo):
    import astropy.units as u
    from astropy.coordinates import Angle, SkyCoord

    floats = small_repo.cutout(RA, DEC, 21, "r")
    coord = SkyCoord(RA * u.deg, DEC * u.deg)
    galactic = coord.galactic  # converted back to ICRS
    for cut in (small_repo.cutout(coord, 21, "r"), small_repo.cutout(coord, size=21, band="r"),
                small_repo.cutout(coord, 21, band="r"), small_repo.cutout(galactic, 21, "r"),
                small_repo.cutout(Angle(RA, u.deg), DEC * u.deg, 21, "r"),
                small_repo.cutout(RA * u.deg, (DEC * u.deg).to(u.rad), 21, "r")):
        assert cut.bbox == floats.bbox and np.array_equal(cut.image, floats.image, equal_nan=True)
    text = small_repo.cutout(*SEXAGESIMAL, 21, "r")
    assert abs(text.provenance["center_x"] - floats.provenance["center_x"]) < 1  # 0.1 arcsec = 0.5 px
    assert [r.path for r in small_repo.query(None, "r", coord)] == [r.path for r in small_repo.query(None, "r", RA, DEC)]
    assert small_repo.home(coord) == small_repo.home(RA, DEC)
    with small_repo.deferred(small_repo.query(None, "r", RA, DEC)[-1]) as handle:
        assert handle.cutout(coord, 21).bbox == handle.cutout(RA, DEC, 21).bbox


def test_api_position_errors_are_the_cli_errors(small_repo):
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    cli = run_cli("--repo", small_repo.root, "bbox", "--ra", "25:00:00", "--dec", DEC, "--size", 9)
    with pytest.raises(InputError) as caught:
        small_repo.cutout("25:00:00", DEC, 9, "r")
    assert str(caught.value) in cli.stderr
    for bad, text in [((RA * u.m, DEC, 9, "r"), "cannot read RA"), ((RA, "north", 9, "r"), "cannot read Dec"),
                      ((SkyCoord([RA, RA] * u.deg, [DEC, DEC] * u.deg), 9, "r"), "not a SkyCoord array"),
                      ((RA, DEC), "give a size and a band")]:
        with pytest.raises(InputError, match=text):
            small_repo.cutout(*bad)


def test_api_sizes_as_pairs_and_quantities(small_repo):
    import astropy.units as u

    scale = small_repo.skymap.tract(small_repo.home(RA, DEC).tract).pixel_scale
    def shape(size):
        return small_repo.cutout(RA, DEC, size, "r").image.shape

    assert shape((30, 20)) == shape("30,20") == (20, 30)
    assert shape(25 * u.pix) == (25, 25) and shape((30 * u.pix, 20 * u.pix)) == (20, 30)
    assert shape(10 * scale * u.arcsec) == (10, 10) == shape((10 * scale / 60) * u.arcmin)
    assert shape([12 * scale * u.arcsec, 7 * u.pix]) == (7, 12) and shape([12, 7] * u.pix) == (7, 12)
    for bad, text in [(5 * u.kg, "cannot read size"), ((1, 2, 3), "cannot read size"), (-3 * u.pix, "positive"),
                      ((10, "big"), "cannot read size")]:
        with pytest.raises(InputError, match=text):
            shape(bad)


def test_cutout_wcs_knows_its_shape(small_repo):
    from astropy.coordinates import SkyCoord

    cut = small_repo.cutout(*TARGET_8, (31, 17), "r")
    assert cut.wcs.pixel_shape == (31, 17) == cut.image.shape[::-1]
    corners = cut.wcs.calc_footprint()
    expected = cut.wcs.pixel_to_world_values([0, 0, 30, 30], [0, 16, 16, 0])
    assert np.allclose(corners, np.transpose(expected))
    assert cut.wcs.footprint_contains(SkyCoord(*TARGET_8, unit="deg"))
