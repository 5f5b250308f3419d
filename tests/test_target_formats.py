"""Target lists in every format astropy writes, standard input, gzip, delimiters, comments, aliases and units.

The truth is the table astropy wrote: each list must read back to the same ids
and coordinates (exactly, for degrees; to 1e-9 arcsec after a unit change).
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import astropy.units as u
import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout_cli.batch.target_formats import ALIASES, open_target_list
from cutout_cli.batch.targets import read_targets
from cutout_cli.errors import InputError
from cutout_cli.sky.parse import parse_size

from .conftest import TARGET_11

IDS = ["a1", "b 2", "c3", "d4"]
RA = [53.335875, 53.194833, 0.0001234567890123, 359.99999999999994]
DEC = [-27.819472, -28.146306, 89.999, -45.123456789012345]
SIZE = parse_size("9")


def _truth() -> Table:
    return Table({"id": IDS, "ra": RA, "dec": DEC})


def _assert_reads_back(table, ids=IDS, ra=RA, dec=DEC, atol=0.0):
    assert list(table.ids) == ids and not table.errors
    np.testing.assert_allclose(table.ra, ra, rtol=0, atol=atol)
    np.testing.assert_allclose(table.dec, dec, rtol=0, atol=atol)


@pytest.mark.parametrize("name, fmt", [("t.ecsv", "ascii.ecsv"), ("t.fits", "fits"), ("t.vot", "votable"),
                                       ("t.xml", "votable"), ("t.ipac", "ascii.ipac"), ("t.ecsv.gz", None)])
def test_astropy_formats_read_back_exactly(tmp_path, name, fmt):
    path = tmp_path / name
    if name.endswith(".gz"):
        _truth().write(tmp_path / "plain.ecsv")
        path.write_bytes(gzip.compress((tmp_path / "plain.ecsv").read_bytes()))
    else:
        _truth().write(path, format=fmt)
    _assert_reads_back(read_targets(path, SIZE, "r").freeze())


@pytest.mark.parametrize("name", ["list.csv", "list.txt", "list"])
def test_ecsv_is_found_by_its_content_whatever_the_name(tmp_path, name):
    _truth().write(tmp_path / name, format="ascii.ecsv")
    _assert_reads_back(read_targets(tmp_path / name, SIZE, "r").freeze())


def test_format_in_overrides_the_name(tmp_path):
    path = tmp_path / "targets.dat"
    _truth().write(path, format="ascii.ipac")
    _assert_reads_back(read_targets(path, SIZE, "r", format_in="ascii.ipac").freeze())
    with pytest.raises(InputError, match="unknown target list format 'ipacc'"):
        read_targets(path, SIZE, "r", format_in="ipacc")


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimited_text_with_comments_bom_and_gzip(tmp_path, delimiter):
    lines = ["# made by hand", delimiter.join(["id", "ra", "dec"]), "# a comment between rows"]
    lines += [delimiter.join([i, repr(r), repr(d)]) for i, r, d in zip(IDS, RA, DEC)]
    text = "\ufeff" + "\n".join(lines) + "\n\n"
    plain, packed = tmp_path / "t.txt", tmp_path / "t.txt.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))
    for path in (plain, packed):
        _assert_reads_back(read_targets(path, SIZE, "r").freeze())


def test_blank_separated_columns(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("RAJ2000   DEJ2000  objID\n" + "".join(
        f"{r!r}  {d!r}\t{i.replace(' ', '_')}\n" for i, r, d in zip(IDS, RA, DEC)))
    _assert_reads_back(read_targets(path, SIZE, "r").freeze(), ids=[i.replace(" ", "_") for i in IDS])


def test_tsv_by_name_keeps_commas_in_ids(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("id\tra\tdec\n" + "".join(f"{i},x\t{r!r}\t{d!r}\n" for i, r, d in zip(IDS, RA, DEC)))
    _assert_reads_back(read_targets(path, SIZE, "r").freeze(), ids=[f"{i},x" for i in IDS])


@pytest.mark.parametrize("field_name", ["id", "ra", "dec"])
def test_every_alias_is_found_in_any_case(tmp_path, field_name):
    for alias in ALIASES[field_name]:
        names = {"id": "id", "ra": "ra", "dec": "dec", field_name: alias.upper()}
        table = Table({names["id"]: IDS, names["ra"]: RA, names["dec"]: DEC})
        _assert_reads_back(read_targets(table, SIZE, "r").freeze())


def test_the_exact_name_wins_over_an_alias_and_two_aliases_are_refused():
    table = Table({"id": IDS, "ra": RA, "ra_deg": [0.0] * 4, "dec": DEC})
    _assert_reads_back(read_targets(table, SIZE, "r").freeze())
    table = Table({"id": IDS, "ra_deg": RA, "RAJ2000": [0.0] * 4, "dec": DEC})
    with pytest.raises(InputError, match="several ra columns") as err:
        read_targets(table, SIZE, "r")
    assert "ra_col" in str(err.value)
    _assert_reads_back(read_targets(table, SIZE, "r", columns={"ra": "ra_deg"}).freeze())


def test_named_columns_and_their_errors():
    table = Table({"Designation_X": IDS, "lon": RA, "lat": DEC})
    chosen = {"id": "designation_x", "ra": "LON", "dec": "lat"}
    _assert_reads_back(read_targets(table, SIZE, "r", columns=chosen).freeze())
    with pytest.raises(InputError, match=r"has no column 'glon' \(found: Designation_X, lon, lat\)"):
        read_targets(table, SIZE, "r", columns={**chosen, "ra": "glon"})
    with pytest.raises(InputError, match="lacks column"):
        read_targets(table, SIZE, "r")


@pytest.mark.parametrize("name, ra_unit", [("t.ecsv", u.hourangle), ("t.fits", u.rad)])
def test_angle_units_are_converted(tmp_path, name, ra_unit):
    table = Table({"id": IDS, "ra": (np.array(RA) * u.deg).to(ra_unit), "dec": (np.array(DEC) * u.deg).to(u.rad),
                   "size": [3, 6, 9, 12] * u.arcmin})
    table.write(tmp_path / name)
    read = read_targets(tmp_path / name, None, "r").freeze()
    _assert_reads_back(read, atol=1e-9 / 3600)
    assert [read.size_of(i) for i in range(4)] == [parse_size(f"{3 * k * 60}arcsec") for k in (1, 2, 3, 4)]


def test_masked_cells_are_rows_with_errors_not_a_failed_list(tmp_path):
    table = _truth()
    table["ra"] = MaskedColumn(RA, mask=[False, True, False, False])
    table.write(tmp_path / "t.ecsv")
    read = read_targets(tmp_path / "t.ecsv", SIZE, "r").freeze()
    assert set(read.errors) == {1} and "RA" in read.errors[1]
    assert read.ra[0] == RA[0] and read.ra[3] == RA[3]


def _cutout(*args, stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cutout_cli", *args], input=stdin, capture_output=True, timeout=120)


@pytest.mark.parametrize("packing", ["plain", "gzip"])
@pytest.mark.parametrize("kind", ["csv", "ecsv", "votable"])
def test_standard_input(small_repo, tmp_path, kind, packing):
    ra, dec = TARGET_11
    table = Table({"name": ["s1", "s2"], "RAJ2000": [ra, ra + 1e-4], "DEJ2000": [dec, dec]})
    path = tmp_path / "list"
    table.write(path, format={"csv": "ascii.csv", "ecsv": "ascii.ecsv", "votable": "votable"}[kind])
    data = path.read_bytes()
    data = gzip.compress(data) if packing == "gzip" else data
    done = _cutout("--repo", str(small_repo.root), "batch", "-", "--size", "9", "--band", "r",
                   "--out", str(tmp_path / "out"), "--dry-run", "--format", "json", stdin=data)
    assert done.returncode == 0, done.stderr.decode()
    assert "plan: 2 targets, 2 in 1 coadd file(s)" in done.stderr.decode()


def test_standard_input_that_is_empty_is_a_clear_error(small_repo, tmp_path):
    done = _cutout("--repo", str(small_repo.root), "batch", "-", "--size", "9", "--band", "r",
                   "--out", str(tmp_path / "out"), stdin=b"")
    assert done.returncode == 2
    assert done.stderr.decode().strip() == ("cutout: error: target list standard input is empty "
                                            "(the first line names the columns: id,ra,dec)")


def test_the_opened_list_reads_only_the_columns_asked_for(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b,id,c,ra,dec\n" + "".join(f"x,,{i},y,{r!r},{d!r}\n" for i, r, d in zip(IDS, RA, DEC)))
    opened = open_target_list(path)
    assert opened.columns == ["a", "b", "id", "c", "ra", "dec"]
    assert list(opened.cells([2, None, 0])) == [[i, "", "x"] for i in IDS]


names = st.text(st.characters(categories=("L", "N"), include_characters="_-."), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(names, min_size=1, max_size=20, unique=True),
       delimiter=st.sampled_from([",", "\t", ";", "|"]), fmt=st.sampled_from(["delimited", "ecsv", "votable"]),
       data=st.data())
def test_round_trip_any_list(tmp_path_factory, ids, delimiter, fmt, data):
    floats = st.floats(0, 360, exclude_max=True, allow_nan=False)
    ra = data.draw(st.lists(floats, min_size=len(ids), max_size=len(ids)))
    dec = data.draw(st.lists(st.floats(-90, 90, allow_nan=False), min_size=len(ids), max_size=len(ids)))
    path = tmp_path_factory.mktemp("rt") / "t"
    table = Table({"ID": ids, "ra_deg": ra, "dec_deg": dec})
    if fmt == "delimited":
        table.write(path, format="ascii.basic", delimiter=delimiter)
    else:
        table.write(path, format="ascii.ecsv" if fmt == "ecsv" else "votable")
    _assert_reads_back(read_targets(path, SIZE, "r").freeze(), ids=ids, ra=[r % 360.0 for r in ra], dec=dec)


def test_the_documented_aliases_are_the_ones_read():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "targets.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in text.splitlines()
            if line.startswith("| ") and line.count("|") == 3}
    for field_name, aliases in ALIASES.items():
        documented = [a.strip() for a in rows[field_name].split(",")] if rows[field_name] != "(none)" else []
        assert documented == [a for a in aliases if a != field_name], field_name


def test_ids_starting_with_a_hash_are_comments_only_in_text_lists(tmp_path):
    """'#' starts a comment line in a text file; in mappings and astropy Tables it is part of an id."""
    rows = [{"id": "#1", "ra": RA[0], "dec": DEC[0]}, {"id": "b", "ra": RA[1], "dec": DEC[1]}]
    assert list(read_targets(rows, SIZE, "r").ids) == ["#1", "b"]
    assert list(read_targets(Table(rows=rows), SIZE, "r").ids) == ["#1", "b"]
    path = tmp_path / "t.csv"
    path.write_text(f"id,ra,dec\n#1,{RA[0]},{DEC[0]}\nb,{RA[1]},{DEC[1]}\n")
    assert list(read_targets(path, SIZE, "r").ids) == ["b"]
