"""The real-Butler fixtures work: cutout_cli._sample.butler builds, and tests.butler_truth answers.

Small repositories (tests.conftest.make_small_repo: skymap ``small_cells``, 240 px
coadds) keep these fast; everything runs the real lsst-daf-butler and its ``butler``
command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cutout_cli._sample.butler import (DEFAULT_CHAIN, DEFAULT_RUN, SourceFile, build_butler_repo, ingest_zip,
                                       retrieve_artifacts, source_files, zip_index)
from tests.butler_truth import butler_query, butler_query_region, get_butler
from tests.conftest import TARGET_8, TARGET_11, make_small_repo

NEW_RUN = "LSSTComCam/runs/DP1/newer"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Small repo.json repository: home patches of targets 11 and 8, bands r and z."""
    return make_small_repo(tmp_path_factory.mktemp("butler_source"), [TARGET_11, TARGET_8], bands=("r", "z"))


@pytest.fixture(scope="module")
def butler_repo(source, tmp_path_factory):
    return build_butler_repo(source.root, tmp_path_factory.mktemp("butler") / "repo")


@pytest.fixture(scope="module")
def shadowed(source, tmp_path_factory):
    """Chain [NEW_RUN, DEFAULT_RUN]: the newer run holds an altered copy of target 11's r coadd."""
    home = source.home(*TARGET_11)
    original = Path(source.expected_path(None, home, "r"))
    copy = tmp_path_factory.mktemp("newer") / "newer_r.fits"
    shutil.copy(original, copy)
    with open(copy, "r+b") as handle:  # a different file (a changed header byte), same size
        handle.seek(100)
        handle.write(b"X")
    runs = [(NEW_RUN, [(home.tract, home.index, "r", copy)]), (DEFAULT_RUN, None)]
    return build_butler_repo(source.root, tmp_path_factory.mktemp("shadow") / "repo", runs=runs), home


def test_source_files_found_through_the_template(source):
    files = source_files(source.root)
    homes = sorted({(source.home(*t).tract, source.home(*t).index) for t in (TARGET_11, TARGET_8)})
    assert [(f.tract, f.patch, f.band) for f in files] == [(t, p, b) for t, p in homes for b in ("r", "z")]
    assert all(isinstance(f, SourceFile) and f.path.is_file() for f in files)


def test_point_query_gives_the_home_patch(source, butler_repo):
    home = source.home(*TARGET_11)
    found = butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_11)
    assert [(r["tract"], r["patch"], r["band"]) for r in found] == [(home.tract, home.index, "r")]
    record = found[0]
    assert record["run"] == DEFAULT_RUN and len(record["dataset_id"]) == 36 and record["dataset_id"].count("-") == 4
    assert record["uri"].startswith("file://") and Path(record["uri"][len("file://"):]).is_file()
    assert butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", "r", 10.0, 10.0) == []
    both = butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", None, *TARGET_8)
    assert [r["band"] for r in both] == ["r", "z"]


def test_patch_region_is_the_outer_box(source, butler_repo):
    """A point just inside the outer box (in the border) overlaps; one beyond it does not."""
    home = source.home(*TARGET_11)
    tract = source.skymap.tract(home.tract)
    o = home.outer
    cy = (o.begin_y + o.end_y) / 2
    (ra_in, ra_out), (dec_in, dec_out) = tract.pixel_to_sky([o.end_x - 0.6, o.end_x + 0.5], [cy, cy])
    inside = butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", "r", ra_in, dec_in)
    assert (home.tract, home.index) in {(r["tract"], r["patch"]) for r in inside}
    outside = butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", "r", ra_out, dec_out)
    assert (home.tract, home.index) not in {(r["tract"], r["patch"]) for r in outside}


def test_region_query(source, butler_repo):
    patches = sorted(source.home(*t).index for t in (TARGET_11, TARGET_8))
    found = butler_query_region(butler_repo, DEFAULT_CHAIN, "deep_coadd", "z", "CIRCLE 53.25 -28.0 0.3")
    assert [r["patch"] for r in found] == patches
    small = butler_query_region(butler_repo, DEFAULT_CHAIN, "deep_coadd", "z",
                                f"CIRCLE {TARGET_11[0]} {TARGET_11[1]} 0.001")
    assert [r["patch"] for r in small] == [source.home(*TARGET_11).index]


def test_chain_and_records(source, butler_repo):
    from lsst.daf.butler import CollectionType

    butler = get_butler(butler_repo)
    assert butler.collections.get_info(DEFAULT_CHAIN).type == CollectionType.CHAINED
    assert list(butler.collections.get_info(DEFAULT_CHAIN).children) == [DEFAULT_RUN]
    assert butler.collections.get_info(DEFAULT_RUN).type == CollectionType.RUN
    (skymap,) = butler.query_dimension_records("skymap")
    assert skymap.name == "small_cells"
    filters = {(r.name, r.band) for r in butler.query_dimension_records("physical_filter")}
    assert filters == {("r_03", "r"), ("z_03", "z")}
    assert len(butler.query_dimension_records("patch", explain=False)) == 2


def test_ids_are_deterministic_and_refused_without_force(source, butler_repo, tmp_path):
    again = build_butler_repo(source.root, tmp_path / "again", transfer="copy")
    ids = [[r["dataset_id"] for r in butler_query(repo, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_11)]
           for repo in (butler_repo, again)]
    assert ids[0] == ids[1]
    with pytest.raises(FileExistsError):
        build_butler_repo(source.root, again)
    build_butler_repo(source.root, again, force=True)
    done = subprocess.run([sys.executable, "-m", "cutout_cli._sample.butler", str(source.root), str(again)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "--force" in done.stderr


def test_two_run_chain_shadows_one_patch(source, shadowed):
    repo, home = shadowed
    butler = get_butler(repo)
    assert list(butler.collections.get_info(DEFAULT_CHAIN).children) == [NEW_RUN, DEFAULT_RUN]
    (newer,) = butler_query(repo, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_11)
    (older,) = butler_query(repo, DEFAULT_RUN, "deep_coadd", "r", *TARGET_11)
    assert newer["run"] == NEW_RUN and older["run"] == DEFAULT_RUN
    assert newer["dataset_id"] != older["dataset_id"] and newer["uri"] != older["uri"]
    # other bands and patches come from the older run through the chain
    (z,) = butler_query(repo, DEFAULT_CHAIN, "deep_coadd", "z", *TARGET_11)
    (other,) = butler_query(repo, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_8)
    assert z["run"] == DEFAULT_RUN and other["run"] == DEFAULT_RUN


def test_retrieve_artifacts_folder(source, shadowed, tmp_path):
    repo, home = shadowed
    out = retrieve_artifacts(repo, tmp_path / "out", collections=DEFAULT_CHAIN,
                             where=f"band = 'r' AND patch = {home.index}", skymap="small_cells")
    index = json.loads((out / "_butler_zip_index.json").read_text())
    (ref_id, ref), = index["refs"]["compact_refs"].items()
    assert ref["run"] == NEW_RUN and ref["data_id"]["patch"] == home.index  # find-first: the newer run
    (path, entry), = index["artifact_map"].items()
    assert entry["ids"] == [ref_id] and (out / path).is_file()
    flat = retrieve_artifacts(repo, tmp_path / "flat", collections=DEFAULT_CHAIN, where="band = 'z'",
                              preserve_path=False)
    assert sorted(p.name for p in flat.iterdir() if p.suffix == ".fits") == sorted(
        Path(p).name for p in json.loads((flat / "_butler_zip_index.json").read_text())["artifact_map"])


def test_retrieve_zip_and_ingest_it(source, butler_repo, tmp_path):
    archive = retrieve_artifacts(butler_repo, tmp_path / "zip", collections=DEFAULT_CHAIN, where="band = 'r'", zip=True)
    assert archive.suffix == ".zip" and archive.parent == tmp_path / "zip"
    with zipfile.ZipFile(archive) as handle:
        members = [info for info in handle.infolist() if info.filename.endswith(".fits")]
        assert len(members) == 2 and all(info.compress_type == zipfile.ZIP_STORED for info in members)
        assert "_butler_zip_index.json" in handle.namelist()
    assert len(zip_index(archive)["refs"]["compact_refs"]) == 2
    new = ingest_zip(archive, tmp_path / "new")
    expected = butler_query(butler_repo, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_11)
    found = butler_query(new, DEFAULT_RUN, "deep_coadd", "r", *TARGET_11)
    assert [r["dataset_id"] for r in found] == [r["dataset_id"] for r in expected]
    assert "#zip-path=" in found[0]["uri"] and os.path.basename(str(archive)) in found[0]["uri"]
