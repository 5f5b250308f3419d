"""Butler sources against the real lsst-daf-butler: repositories, retrieve-artifacts folders and zips.

The repositories are built by the real Butler (:mod:`cutout_cli._sample.butler`)
from small coadds (skymap ``small_cells``, 240 px files, a 3 x 3 block of patches
around target 11 in r, the centre patch in z), and every answer of cutout is
compared with the Butler's own (``query_datasets``, ``getURI``), pixels with the
files'.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cutout_cli._sample.butler import DEFAULT_CHAIN, DEFAULT_RUN, build_butler_repo, ingest_zip, retrieve_artifacts
from cutout_cli.repository import open_repository
from cutout_cli.repository.butler.repository import ButlerRepository
from cutout_cli.sky.box import Box
from tests.bad_input_cases import without_daf_butler
from tests.butler_truth import butler_query, butler_query_region
from tests.conftest import TARGET_11, empty_small_repo, run_cli, write_random_coadd

NEWER_RUN = "LSSTComCam/runs/DP1/newer"
EDGE_MARGIN = 0.1  # px: test positions keep further than this from outer edges (the Butler's 0.052 px tolerance)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A repo.json repository: patches around target 11's home (3 x 3 in r, the centre in z)."""
    repo = empty_small_repo(tmp_path_factory.mktemp("butler_src"))
    tract, home = repo.skymap.find_home(*TARGET_11)
    seed = 100
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            patch = tract.patch((home.x + dx, home.y + dy))
            for band in (("r", "z") if (dx, dy) == (0, 0) else ("r",)):
                path = Path(repo.expected_path(None, patch, band))
                path.parent.mkdir(parents=True, exist_ok=True)
                seed += 1
                write_random_coadd(path, tract, patch, seed)
    return repo


@pytest.fixture(scope="module")
def butler_root(source, tmp_path_factory):
    return build_butler_repo(source.root, tmp_path_factory.mktemp("butler") / "repo")


@pytest.fixture(scope="module")
def shadowed(source, tmp_path_factory):
    """A chain of two runs: the newer (first) holds one patch of the older, an altered copy of it."""
    tract, home = source.skymap.find_home(*TARGET_11)
    original = Path(source.expected_path(None, home, "r"))
    altered = tmp_path_factory.mktemp("altered") / original.name
    write_random_coadd(altered, tract, home, seed=999)
    root = build_butler_repo(source.root, tmp_path_factory.mktemp("shadowed") / "repo",
                             runs=[(NEWER_RUN, [(tract.id, home.index, "r", altered)]), (DEFAULT_RUN, None)])
    return root, altered


def positions(source, n=60, seed=1):
    """Positions spread over the patches and beyond, each further than EDGE_MARGIN from every outer edge."""
    rng = np.random.default_rng(seed)
    tract, home = source.skymap.find_home(*TARGET_11)
    edges_x = sorted({e for p in _patches(source) for e in (p.outer.begin_x - 0.5, p.outer.end_x - 0.5)})
    edges_y = sorted({e for p in _patches(source) for e in (p.outer.begin_y - 0.5, p.outer.end_y - 0.5)})
    out = []
    while len(out) < n:
        x = rng.uniform(home.inner.begin_x - 300, home.inner.end_x + 300)
        y = rng.uniform(home.inner.begin_y - 300, home.inner.end_y + 300)
        if min(abs(x - e) for e in edges_x) > EDGE_MARGIN and min(abs(y - e) for e in edges_y) > EDGE_MARGIN:
            ra, dec = tract.pixel_to_sky(x, y)
            out.append((float(ra), float(dec)))
    return out


def _patches(source):
    tract, home = source.skymap.find_home(*TARGET_11)
    return [tract.patch((home.x + dx, home.y + dy)) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]


def records(refs):
    return [{"tract": r.tract, "patch": r.patch, "band": r.band, "dataset_id": r.dataset_id, "run": r.run,
             "uri": r.uri} for r in refs]


def test_point_queries_equal_the_butlers(source, butler_root):
    repo = open_repository(butler_root)
    assert isinstance(repo, ButlerRepository) and repo.collections == [DEFAULT_CHAIN]
    checked = 0
    for ra, dec in positions(source):
        for band in ("r", "z"):
            truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", band, ra, dec)
            assert records(repo.query("deep_coadd", band, ra, dec)) == truth, (ra, dec, band)
            checked += bool(truth)
    assert checked > 40  # most positions are on data; some are beyond it


def test_every_band_and_the_home_patch(source, butler_root):
    repo = open_repository(butler_root)
    refs = repo.query(ra=TARGET_11[0], dec=TARGET_11[1])
    assert sorted({r.band for r in refs}) == ["r", "z"]
    home = source.home(*TARGET_11)
    assert {(r.patch, r.home) for r in refs if r.home} == {(home.index, True)}
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", None, *TARGET_11)
    assert records(refs) == truth


def test_the_butlers_edge_tolerance(source, butler_root):
    """A point 0.01 px outside an outer edge overlaps the patch for the Butler (sphgeom's 5e-8 rad), and so
    for cutout on a Butler source; a repo.json repository tests outer boxes exactly."""
    tract, home = source.skymap.find_home(*TARGET_11)
    edge = tract.patch((home.x + 1, home.y)).outer.end_x - 0.5  # the right edge of the block
    ra, dec = (float(v) for v in tract.pixel_to_sky(edge + 0.01, home.inner.center[1]))
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", "r", ra, dec)
    assert [t["patch"] for t in truth] == [tract.patch((home.x + 1, home.y)).index]
    assert records(open_repository(butler_root).query("deep_coadd", "r", ra, dec)) == truth
    assert source.query("deep_coadd", "r", ra, dec) == []


@pytest.mark.parametrize("shape", ["CIRCLE {ra} {dec} 0.01", "CIRCLE {ra} {dec} 0.002",
                                   "POLYGON {ra} {dec} {ra2} {dec} {ra2} {dec2}",
                                   "RANGE {ra} {ra2} {dec} {dec2}"])
def test_region_queries_equal_the_butlers(butler_root, shape):
    ra, dec = TARGET_11
    pos = shape.format(ra=ra, dec=dec, ra2=ra + 0.012, dec2=dec + 0.01)
    truth = butler_query_region(butler_root, DEFAULT_CHAIN, "deep_coadd", "r", pos)
    assert truth and records(open_repository(butler_root).query("deep_coadd", "r", pos=pos)) == truth


def test_find_first_through_a_chain(source, shadowed):
    root, altered = shadowed
    repo = open_repository(root)
    home = source.home(*TARGET_11)
    for ra, dec in positions(source, n=20, seed=2):
        assert records(repo.query("deep_coadd", "r", ra, dec)) == \
            butler_query(root, DEFAULT_CHAIN, "deep_coadd", "r", ra, dec)
    (ref,) = [r for r in repo.query("deep_coadd", "r", *TARGET_11) if r.home]
    assert ref.run == NEWER_RUN and ref.patch == home.index
    cut = repo.cutout(*TARGET_11, 31, "r")
    assert np.array_equal(cut.image, _file_pixels(altered, cut.bbox, "IMAGE"), equal_nan=True)
    older = open_repository(root, collections=DEFAULT_RUN)
    (old,) = [r for r in older.query("deep_coadd", "r", *TARGET_11) if r.home]
    assert old.run == DEFAULT_RUN and old.dataset_id != ref.dataset_id
    assert records([old]) == [t for t in butler_query(root, DEFAULT_RUN, "deep_coadd", "r", *TARGET_11)
                              if t["patch"] == home.index]


def _file_pixels(path, bbox: Box, plane: str) -> np.ndarray:
    """The PARENT box of a plane of an afw-layout file, read by astropy (independent of cutout's readers)."""
    with fits.open(path) as hdus:
        hdu = next(h for h in hdus[1:] if h.header.get("EXTNAME") == plane)
        x0, y0 = int(hdus[1].header.get("CRVAL1A", 0)), int(hdus[1].header.get("CRVAL2A", 0))
        if "LTV1" in hdu.header:
            x0, y0 = -int(hdu.header["LTV1"]), -int(hdu.header["LTV2"])
        return hdu.section[bbox.begin_y - y0:bbox.end_y - y0, bbox.begin_x - x0:bbox.end_x - x0]


def test_pixels_equal_the_files_and_assembly_across_patches(source, butler_root):
    repo = open_repository(butler_root)
    inside = [p for p in positions(source, n=30, seed=3) if source.find(None, source.home(*p), "r") is not None]
    for ra, dec in inside[:6]:
        for size in (25, 260):  # one patch, and a box over several (assembled)
            ours, theirs = repo.cutout(ra, dec, size, "r"), source.cutout(ra, dec, size, "r")
            assert ours.bbox == theirs.bbox
            for plane in ("IMAGE", "MASK", "VARIANCE"):
                assert np.array_equal(ours.planes[plane], theirs.planes[plane], equal_nan=True), (ra, dec, size)
    (ref,) = [r for r in repo.query("deep_coadd", "r", *TARGET_11) if r.home]
    box = Box(ref.outer.begin_x + 7, ref.outer.begin_y + 9, 40, 30)
    with repo.deferred(ref) as handle:
        got = handle.get(box)
    path = ref.path
    for plane in ("IMAGE", "MASK", "VARIANCE"):
        assert np.array_equal(got.planes[plane], _file_pixels(path, box, plane), equal_nan=True)
    assert repo.get(ref, box).primary_header["DATAID"] == ref.dataset_id


def test_bbox_matches_the_repo_json_repository(source, butler_root):
    repo = open_repository(butler_root)
    home = source.home(*TARGET_11)
    assert repo.skymap.tract(home.tract).patch(home.index).outer == home.outer
    for ra, dec in positions(source, n=10, seed=4):
        assert repo.home(ra, dec) == source.home(ra, dec)


def test_cli_on_a_butler_repository(source, butler_root, tmp_path):
    ra, dec = TARGET_11
    done = run_cli("--repo", butler_root, "query", "--band", "r", "--pos", f"{ra} {dec}", "--format", "json")
    assert done.returncode == 0, done.stderr
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", "r", ra, dec)
    got = [{k: r[k] for k in truth[0]} for r in json.loads(done.stdout)]
    assert got == truth
    env = {"CUTOUT_COLLECTIONS": DEFAULT_RUN}
    done = run_cli("--repo", butler_root, "query", "--band", "r", "--pos", f"{ra} {dec}", "--format", "json", env=env)
    assert {r["run"] for r in json.loads(done.stdout)} == {DEFAULT_RUN}
    out = tmp_path / "one.fits"
    done = run_cli("--repo", butler_root, "subset", "--ra", ra, "--dec", dec, "--size", 41, "--band", "r", "-o", out)
    assert done.returncode == 0, done.stderr
    with fits.open(out) as hdus:
        assert hdus[0].header["DATAID"] == truth[[t["patch"] for t in truth].index(source.home(ra, dec).index)][
            "dataset_id"]
    done = run_cli("--repo", butler_root, "bbox", "--ra", ra, "--dec", dec, "--size", 41, "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["patch"] == source.home(ra, dec).index


def test_batch_on_a_butler_repository_in_two_processes(source, butler_root, tmp_path):
    """The same batch as on the repo.json repository: the same statuses, the same pixels."""
    import csv

    targets = tmp_path / "targets.csv"
    rows = positions(source, n=16, seed=5)
    targets.write_text("id,ra,dec\n" + "".join(f"t{i},{ra!r},{dec!r}\n" for i, (ra, dec) in enumerate(rows)))
    manifests = {}
    for name, root in (("butler", butler_root), ("json", source.root)):
        done = run_cli("--repo", root, "batch", targets, "--size", 21, "--band", "r", "--out", tmp_path / name,
                       "--jobs", 2)
        assert done.returncode in (0, 1), done.stderr
        with open(tmp_path / name / "manifest.csv", newline="") as handle:
            manifests[name] = {r["id"]: r["status"] for r in csv.DictReader(handle)}
    assert manifests["butler"] == manifests["json"] and "ok" in manifests["json"].values()
    for target, status in manifests["json"].items():
        if status == "ok":
            with fits.open(tmp_path / "butler" / f"{target}_r.fits") as ours, \
                    fits.open(tmp_path / "json" / f"{target}_r.fits") as theirs:
                for plane in ("IMAGE", "MASK", "VARIANCE"):
                    assert np.array_equal(ours[plane].data, theirs[plane].data, equal_nan=True)
                assert ours[0].header["DATAID"] and ours[0].header["RUN"] == DEFAULT_RUN


def test_several_top_level_collections_need_a_choice(butler_root, tmp_path):
    from lsst.daf.butler import Butler, CollectionType

    copy = tmp_path / "two"
    shutil.copytree(butler_root, copy, symlinks=True)
    with Butler(str(copy), writeable=True) as butler:
        butler.registry.registerCollection("u/someone/mine", CollectionType.CHAINED)
        butler.registry.setCollectionChain("u/someone/mine", [DEFAULT_RUN])
    done = run_cli("--repo", copy, "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "LSSTComCam/DP1, u/someone/mine" in done.stderr and "--collections" in done.stderr
    done = run_cli("--repo", copy, "--collections", "u/someone/mine", "query", "--pos",
                   f"{TARGET_11[0]} {TARGET_11[1]}")
    assert done.returncode == 0, done.stderr


def test_retrieve_artifacts_folders_and_zips(source, butler_root, tmp_path):
    home = source.home(*TARGET_11)
    where = f"band='r' AND skymap='small_cells' AND tract={home.tract}"
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", "r", *TARGET_11)
    sources = {"preserve": retrieve_artifacts(butler_root, tmp_path / "kept", collections=DEFAULT_CHAIN, where=where),
               "flat": retrieve_artifacts(butler_root, tmp_path / "flat", collections=DEFAULT_CHAIN, where=where,
                                          preserve_path=False),
               "zip": retrieve_artifacts(butler_root, tmp_path / "zip", collections=DEFAULT_CHAIN, where=where,
                                         zip=True)}
    for kind, root in sources.items():
        repo = open_repository(root)
        assert isinstance(repo, ButlerRepository), kind
        refs = repo.query("deep_coadd", "r", *TARGET_11)
        assert [(r.tract, r.patch, r.band, r.dataset_id, r.run) for r in refs] == \
            [(t["tract"], t["patch"], t["band"], t["dataset_id"], t["run"]) for t in truth], kind
        if kind == "zip":
            assert all("#zip-path=" in r.path for r in refs)
        cut = repo.cutout(*TARGET_11, 150, "r")  # over several patches
        ref_cut = source.cutout(*TARGET_11, 150, "r")
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            assert np.array_equal(cut.planes[plane], ref_cut.planes[plane], equal_nan=True), (kind, plane)


def test_a_repository_holding_an_ingested_zip(source, butler_root, tmp_path):
    home = source.home(*TARGET_11)
    where = f"band='r' AND skymap='small_cells' AND tract={home.tract} AND patch={home.index}"
    archive = retrieve_artifacts(butler_root, tmp_path / "zip", collections=DEFAULT_CHAIN, where=where, zip=True)
    new = ingest_zip(archive, tmp_path / "zipped_repo")
    with sqlite3.connect(new / "gen3.sqlite3") as db:
        (path,) = db.execute("SELECT path FROM file_datastore_records").fetchone()
    assert path.startswith("zips/") and "#zip-path=" in path
    repo = open_repository(new)
    (ref,) = repo.query("deep_coadd", "r", *TARGET_11)
    truth = butler_query(new, repo.collections, "deep_coadd", "r", *TARGET_11)
    assert records([ref]) == truth
    box = Box(ref.outer.begin_x + 5, ref.outer.begin_y + 5, 60, 50)
    got = repo.get(ref, box)
    original = Path(source.expected_path(None, home, "r"))
    for plane in ("IMAGE", "MASK", "VARIANCE"):
        assert np.array_equal(got.planes[plane], _file_pixels(original, box, plane), equal_nan=True)


def test_the_daf_butler_reader_gives_the_same_answers(source, butler_root, monkeypatch):
    """The optional path (PostgreSQL, Butler servers): forced here on the SQLite repository."""
    direct = open_repository(butler_root)
    monkeypatch.setenv("CUTOUT_BUTLER_READER", "daf_butler")
    through = open_repository(butler_root)
    for ra, dec in positions(source, n=15, seed=6):
        assert records(through.query("deep_coadd", "r", ra, dec)) == records(direct.query("deep_coadd", "r", ra, dec))
    assert np.array_equal(through.cutout(*TARGET_11, 33, "r").image, direct.cutout(*TARGET_11, 33, "r").image,
                          equal_nan=True)


def test_a_butler_repository_over_http_and_s3(source, butler_root, tmp_path_factory, monkeypatch):
    """The registry read whole (SQLite cannot be range-read), the pixels by ranged reads, zips in place."""
    from tests.remote_servers import S3Server, nginx_serving
    from tests.test_remote import S3_ENV

    ra, dec = TARGET_11
    local_repo = open_repository(butler_root)
    local = local_repo.cutout(ra, dec, 70, "r")
    truth = records(local_repo.query("deep_coadd", "r", ra, dec))
    archive = retrieve_artifacts(butler_root, tmp_path_factory.mktemp("zip"), collections=DEFAULT_CHAIN,
                                 where="band='r'", zip=True)
    with nginx_serving(tmp_path_factory, "butler") as (root, server):
        (root / "repo").symlink_to(butler_root)
        (root / "a.zip").symlink_to(archive)
        for url in (f"{server.url}/repo", f"{server.url}/a.zip"):
            remote = open_repository(url)
            assert [(r["dataset_id"], r["run"]) for r in records(remote.query("deep_coadd", "r", ra, dec))] == \
                [(r["dataset_id"], r["run"]) for r in truth], url
            assert np.array_equal(remote.cutout(ra, dec, 70, "r").image, local.image, equal_nan=True), url
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    with S3Server() as s3:
        s3.upload_tree(butler_root, "private", "repo")
        remote = open_repository("s3://private/repo", endpoint_url=s3.url)
        assert isinstance(remote, ButlerRepository)
        assert np.array_equal(remote.cutout(ra, dec, 70, "r").image, local.image, equal_nan=True)


def test_without_daf_butler_the_direct_reader_needs_nothing(butler_root, tmp_path):
    """The SQLite reader runs where lsst-daf-butler cannot be imported (a real process)."""
    done = subprocess.run([sys.executable, "-c", "import lsst.daf.butler"], env={**os.environ,
                          **without_daf_butler(tmp_path)}, capture_output=True, text=True)
    assert done.returncode != 0
    done = run_cli("--repo", butler_root, "query", "--band", "r", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}",
                   env=without_daf_butler(tmp_path))
    assert done.returncode == 0, done.stderr


def test_a_full_size_patch_with_the_preset_skymap(sample_patch33, tmp_path):
    """lsst_cells_v1 (a preset): the demo targets of patch 33, full-size files, against the Butler."""
    import csv

    root = build_butler_repo(sample_patch33.root, tmp_path / "repo")
    repo = open_repository(root)
    assert repo.skymap.name == "lsst_cells_v1" and type(repo.skymap).__name__ == "RingsSkyMap"
    with open(Path(sample_patch33.root) / "targets.csv", newline="") as handle:
        targets = [(float(r["ra"]), float(r["dec"])) for r in csv.DictReader(handle)]
    assert targets
    for ra, dec in targets:
        for band in ("r", "z"):
            assert records(repo.query("deep_coadd", band, ra, dec)) == \
                butler_query(root, DEFAULT_CHAIN, "deep_coadd", band, ra, dec)
        ours, theirs = repo.cutout(ra, dec, "10arcsec", "z"), sample_patch33.cutout(ra, dec, "10arcsec", "z")
        assert ours.bbox == theirs.bbox
        assert np.array_equal(ours.image, theirs.image, equal_nan=True)
