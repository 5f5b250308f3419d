"""Remote repositories: the commands against real servers on 127.0.0.1.

nginx (HTTP, Debian's nginx-light) and moto's S3 server serve the test
repositories; see ``remote_servers.py``.  Checks: every command works with
``--repo http://...`` and ``--repo s3://...``; remote cutouts equal local ones
pixel for pixel with the same WCS and XY0; the requests and bytes the servers
saw for cutouts of the full-size 3400 x 3400 RICE patch; one-line errors with
their exit codes; the batch download policy; and that local use imports none
of the remote libraries.
"""

import csv
import json
from pathlib import Path
import os
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.sky.box import Box
from cutout_cli.fits.coadd import PLANES, CoaddFile
from cutout_cli.repository import Repository

from .conftest import TARGET_8, TARGET_11, make_small_repo, run_cli
from .remote_servers import (ACCESS_KEY, SECRET_KEY, Nginx, S3Server, closed_port, nginx_binary, nginx_serving,
                             silent_server)

for _module in ("fsspec", "s3fs", "aiohttp", "moto"):
    pytest.importorskip(_module, reason="remote tests need the 'remote' and 'test' extras")

# never let botocore's credential chain ask an instance-metadata service: tests talk to 127.0.0.1 only
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# S3 calls that lost the --endpoint-url they were given would go to this closed local port, not to AWS
GUARD = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}", "AWS_EC2_METADATA_DISABLED": "true"}
S3_ENV = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
          **GUARD}
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                  "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent", **GUARD}
KB64 = 64 * 1000  # the budget of a cold 50 x 50 single-plane cutout, in bytes (kB, not KiB: the stricter)
HEAVY = ("fsspec", "s3fs", "aiohttp", "requests", "botocore", "aiobotocore")
WCS_KEYS = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2",
            "LTV1", "LTV2", "CTYPE1A", "CTYPE2A", "CRPIX1A", "CRPIX2A", "CRVAL1A", "CRVAL2A")


# -- servers and repositories ----------------------------------------------------------

@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """Small repositories with other layouts: lossless one-row tiles, and uncompressed planes."""
    root = tmp_path_factory.mktemp("variants")
    return {kind: make_small_repo(root / kind, [TARGET_11], compression=kind, tile=None) for kind in ("gzip", "none")}


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_repo, sample_patch33, variants):
    """One folder for nginx: the small repository, the full-size patch 33 and the variants."""
    root = tmp_path_factory.mktemp("served")
    (root / "small").symlink_to(small_repo.root)
    (root / "full").symlink_to(sample_patch33.root)
    for kind, repo in variants.items():
        (root / kind).symlink_to(repo.root)
    return root


@pytest.fixture(scope="module")
def nginx(served, tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    with Nginx(served, tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture(scope="module")
def s3(small_repo, sample_patch33, variants):
    with S3Server() as server:
        server.upload_tree(small_repo.root, "private", "small")
        server.upload_tree(sample_patch33.root, "private", "full")
        for kind, repo in variants.items():
            server.upload_tree(repo.root, "private", kind)
        server.upload_tree(small_repo.root, "public", "small", public=True)
        # readable description, private coadds: anonymous users get as far as planning
        server.upload_tree(small_repo.root, "mixed", "small")
        for key in ("small/repo.json", "small/skymaps/small.json"):
            server.client().put_object_acl(Bucket="mixed", Key=key, ACL="public-read")
        yield server


@pytest.fixture
def s3_env(monkeypatch):
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)


def _server(request, kind):
    """The nginx or the S3 server (only the one a test parameter needs is started)."""
    return request.getfixturevalue("nginx" if kind == "http" else "s3")


def _url(kind, server, name):
    return f"{server.url}/{name}" if kind == "http" else f"s3://private/{name}"


def _remote_repo(kind, server, name):
    return Repository(_url(kind, server, name), endpoint_url=server.url if kind == "s3" else None)


def _cli_args(kind, server, name):
    repo = ["--repo", _url(kind, server, name)]
    return (repo + ["--endpoint-url", server.url]) if kind == "s3" else repo


def _targets_csv(path, positions):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ra", "dec"])
        for i, (ra, dec) in enumerate(positions):
            writer.writerow([f"t{i}", f"{ra:.7f}", f"{dec:.7f}"])
    return path


def _near(repo, position, dx, dy):
    """The position ``(dx, dy)`` pixels from ``position`` on its tract."""
    tract = repo.skymap.find_tract(*position)
    x, y = tract.sky_to_pixel(*position)
    ra, dec = tract.pixel_to_sky(float(x) + dx, float(y) + dy)
    return float(ra), float(dec)


def assert_same_cutout_files(remote_path, local_path):
    """Same planes, byte-identical pixels, same WCS and XY0 keywords."""
    with fits.open(remote_path) as remote, fits.open(local_path) as local:
        names = [h.name for h in local[1:]]
        assert [h.name for h in remote[1:]] == names and names
        for name in names:
            a, b = remote[name].data, local[name].data
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes(), name
            for key in WCS_KEYS:
                assert remote[name].header.get(key) == local[name].header.get(key), (name, key)


def assert_same_cutouts(a, b):
    assert a.bbox == b.bbox and list(a.planes) == list(b.planes)
    for name in b.planes:
        assert a.planes[name].dtype == b.planes[name].dtype
        assert a.planes[name].tobytes() == b.planes[name].tobytes(), name
        for key in WCS_KEYS:
            assert a.headers[name].get(key) == b.headers[name].get(key), (name, key)
    assert a.mask_planes == b.mask_planes and a.unit == b.unit


# -- local use stays local -------------------------------------------------------------------

def test_local_use_imports_no_remote_library(small_repo, tmp_path):
    code = f"""
import sys
heavy = {HEAVY!r}
import cutout_cli.cli
after_import = sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))
from cutout_cli.cli import main
status = main(["--repo", sys.argv[1], "subset", "--ra", "{TARGET_11[0]}", "--dec", "{TARGET_11[1]}",
               "--size", "21", "--band", "r", "-o", sys.argv[2]])
print(status, after_import, sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy)))
"""
    import subprocess

    result = subprocess.run([sys.executable, "-c", code, str(small_repo.root), str(tmp_path / "c.fits")],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.split("\n")[-2] == "0 [] []", result.stdout + result.stderr


# -- the commands, over HTTP and S3 ---------------------------------------------------------

@pytest.fixture(scope="module")
def local_runs(small_repo, tmp_path_factory):
    """query / subset / batch outputs of the local small repository, the reference for remote runs."""
    out = tmp_path_factory.mktemp("local_runs")
    targets = _targets_csv(out / "targets.csv", [TARGET_11, TARGET_8, _near(small_repo, TARGET_11, 25, 15)])
    query = run_cli("--repo", small_repo.root, "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}", "--format", "json")
    subset = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", "31",
                     "--band", "z", "-o", out / "subset.fits")
    batch = run_cli("--repo", small_repo.root, "batch", targets, "--size", "25", "--band", "r", "--out", out / "batch",
                    "--jobs", "1")
    edge = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", "61",
                   "--band", "z", "-o", out / "edge.fits")
    assert query.returncode == subset.returncode == batch.returncode == edge.returncode == 0, \
        query.stderr + subset.stderr + batch.stderr + edge.stderr
    return {"query": json.loads(query.stdout), "subset": out / "subset.fits", "batch": out / "batch",
            "edge": out / "edge.fits", "targets": targets, "root": str(small_repo.root)}


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_commands_against_a_remote_repository(kind, request, local_runs, tmp_path):
    server = _server(request, kind)
    args, env = _cli_args(kind, server, "small"), (S3_ENV if kind == "s3" else {})
    query = run_cli(*args, "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}", "--format", "json", env=env)
    assert query.returncode == 0, query.stderr
    records = json.loads(query.stdout)
    base = _url(kind, server, "small")
    assert [r["path"] for r in records] == [r["path"].replace(local_runs["root"], base) for r in local_runs["query"]]
    assert [{**r, "path": ""} for r in records] == [{**r, "path": ""} for r in local_runs["query"]]

    bbox = run_cli(*args, "bbox", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "60arcsec", "--format", "json",
                   env=env)
    assert bbox.returncode == 0 and json.loads(bbox.stdout)["width"] == 300, bbox.stderr

    subset = run_cli(*args, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", "31", "--band", "z",
                     "-o", tmp_path / "subset.fits", env=env)
    assert subset.returncode == 0, subset.stderr
    assert_same_cutout_files(tmp_path / "subset.fits", local_runs["subset"])
    with fits.open(tmp_path / "subset.fits") as cut:
        assert cut[0].header["SRCFILE"].startswith(base)
    # a box leaving its patch is assembled (cutout_cli.cutouts.assemble), through the same storage options
    edge = run_cli(*args, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", "61", "--band", "z",
                   "-o", tmp_path / "edge.fits", env=env)
    assert edge.returncode == 0, edge.stderr
    assert_same_cutout_files(tmp_path / "edge.fits", local_runs["edge"])

    batch = run_cli(*args, "batch", local_runs["targets"], "--size", "25", "--band", "r", "--out", tmp_path / "batch",
                    "--jobs", "2", "--remote-read", "ranged", env=env)
    assert batch.returncode == 0, batch.stderr
    local_files = sorted(p.name for p in local_runs["batch"].glob("*.fits"))
    assert sorted(p.name for p in (tmp_path / "batch").glob("*.fits")) == local_files and len(local_files) == 3
    for name in local_files:
        assert_same_cutout_files(tmp_path / "batch" / name, local_runs["batch"] / name)
    assert not [p for p in (tmp_path / "batch").iterdir() if p.name.endswith(".tmp")]


def test_anonymous_access_to_a_public_bucket(s3, local_runs, tmp_path):
    result = run_cli("--repo", "s3://public/small", "--endpoint-url", s3.url, "--anon", "subset", "--ra", TARGET_8[0],
                     "--dec", TARGET_8[1], "--size", "31", "--band", "z", "-o", tmp_path / "anon.fits", env=NO_CREDENTIALS)
    assert result.returncode == 0, result.stderr
    assert_same_cutout_files(tmp_path / "anon.fits", local_runs["subset"])
    seen = [r for r in s3.requests() if r.path.startswith("/public/small/deep_coadd")]
    assert seen and all(r.status in (200, 206) for r in seen)


@pytest.mark.parametrize("kind", ["http", "s3"])
@pytest.mark.parametrize("name", ["small", "gzip", "none"])
def test_remote_pixels_equal_local_pixels(kind, name, request, small_repo, variants, s3_env):
    """Every plane, boxes inside, across tile edges, partly outside, and the whole patch; RICE, GZIP and none."""
    local = small_repo if name == "small" else variants[name]
    remote = _remote_repo(kind, _server(request, kind), name)
    ref_local, ref_remote = local.query(band="r", ra=TARGET_11[0], dec=TARGET_11[1]), \
        remote.query(band="r", ra=TARGET_11[0], dec=TARGET_11[1])
    home = [r for r in ref_local if r.home][0]
    remote_home = [r for r in ref_remote if r.home][0]
    assert remote_home.path.startswith(str(remote.root))
    x0, y0 = home.outer.begin_x, home.outer.begin_y
    boxes = [Box(x0 + 60, y0 + 60, 10, 10), Box(x0 + 50, y0 + 100, 40, 33), Box(x0 - 7, y0 + 200, 30, 50),
             home.outer]
    with local.deferred(home) as a, remote.deferred(remote_home) as b:
        for box in boxes:
            assert_same_cutouts(b.get(box), a.get(box))
        assert_same_cutouts(b.cutout(*TARGET_11, "5arcsec", planes=("IMAGE",)),
                            a.cutout(*TARGET_11, "5arcsec", planes=("IMAGE",)))
    assert remote.bands(None, local.home(*TARGET_11)) == local.bands(None, local.home(*TARGET_11))


# -- what the servers saw --------------------------------------------------------------------

FULL_FILE = "full/deep_coadd/5063/33/r/deep_coadd_5063_33_r_lsst_cells_v1.fits"


@pytest.mark.parametrize("kind", ["http", "s3"])
def test_requests_and_bytes_of_cutouts_from_a_full_size_patch(kind, request, sample_patch33, s3_env, capsys):
    """Cold 50 x 50 single-plane cutout: <= 8 requests, <= 64 kB; each further cutout-plane: <= 2 requests."""
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.cutouts.options import ReadOptions
    from cutout_cli.fits.coadd import open_image_file
    from cutout_cli.storage.remote import RemoteOptions

    server = _server(request, kind)
    url = f"{server.url}/{FULL_FILE}" if kind == "http" else f"s3://private/{FULL_FILE}"
    options = RemoteOptions.from_env(endpoint_url=server.url if kind == "s3" else None)
    local = CoaddFile(Path(sample_patch33.root) / FULL_FILE.split("/", 1)[1])
    with open(Path(sample_patch33.root) / "targets.csv", newline="") as handle:
        targets = [(float(r["ra"]), float(r["dec"])) for r in csv.DictReader(handle)]
    tract = sample_patch33.skymap.find_tract(*targets[0])
    boxes = [Box.centered(*(float(v) for v in tract.sky_to_pixel(ra, dec)), 50, 50) for ra, dec in targets]
    assert len(boxes) == 2  # demo targets 3 and 11: one tile, and two tiles one above the other
    report, logged = [], [server.mark()]

    def measured(label, action, limit_requests, limit_bytes=None):
        result = action()
        everything = server.settled()
        seen = everything[logged[0]:]
        logged[0] = len(everything)
        requests, sent = len(seen), sum(r.bytes_sent for r in seen)
        report.append(f"{kind} {label}: {requests} requests, {sent} bytes")
        assert requests <= limit_requests, (label, seen)
        if limit_bytes is not None:
            assert sent <= limit_bytes, (label, sent, seen)
        return result

    for n, box in enumerate(boxes):  # each a cold open and one IMAGE cutout
        remote = measured(f"cold open + 50x50 IMAGE cutout, target box {n}", lambda: _open_and_cut(
            open_image_file, extract, url, options, box), 8, KB64)
        assert_same_cutouts(remote[1], extract(local, box, ReadOptions(("IMAGE",))))
        if n == 0:
            kept = remote[0]
        else:
            remote[0].close()
    rng = np.random.default_rng(3)
    more = [Box(int(x), int(y), 50, 50) for x, y in rng.uniform(8800 + 10, 8800 + 3340, (6, 2))]
    for box in more:
        measured(f"further IMAGE cutout at {box.begin_x},{box.begin_y}", lambda: extract(kept, box, ReadOptions(("IMAGE",))), 2)
    # first use of the other planes (box 0 is within one tile): the descriptor table, read ahead with the
    # VARIANCE header (the MASK header was read for the mask-plane bits), then the tile
    for plane in ("MASK", "VARIANCE"):
        measured(f"first {plane} cutout", lambda: extract(kept, boxes[0], ReadOptions((plane,))), 2)
    for box in [*boxes, *more]:
        for plane in PLANES:
            cut = measured(f"further {plane} cutout at {box.begin_x},{box.begin_y}",
                           lambda: extract(kept, box, ReadOptions((plane,))), 2)
            assert cut.planes[plane].tobytes() == local.read(plane, box).tobytes()
    kept.close()
    for n, box in enumerate(boxes):  # cold, all three planes (what `cutout subset` reads)
        remote = measured(f"cold open + 50x50 cutout of 3 planes, target box {n}",
                          lambda: _open_and_cut(open_image_file, extract, url, options, box, PLANES), 11)
        assert_same_cutouts(remote[1], extract(local, box))
        remote[0].close()
    local.close()
    with capsys.disabled():
        print("\n" + "\n".join(report[:2] + report[8:10] + report[-2:]))


def _open_and_cut(open_image_file, extract, url, options, box, planes=("IMAGE",)):
    from cutout_cli.cutouts.options import ReadOptions

    remote = open_image_file(url, options)
    return remote, extract(remote, box, ReadOptions(planes))


# -- errors -------------------------------------------------------------------------------------

def _one_line_error(result, code, text):
    assert result.returncode == code, result.stderr
    assert text in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr


QUICK = {"CUTOUT_REMOTE_TIMEOUT": "0.5", "CUTOUT_REMOTE_RETRIES": "1"}


def test_missing_objects_exit_3(nginx, s3, tmp_path):
    home = Repository(str(nginx.url) + "/small").home(*TARGET_11)
    for args, env in ((_cli_args("http", nginx, "small"), {}), (_cli_args("s3", s3, "small"), S3_ENV)):
        result = run_cli(*args, "subset", "--tract", home.tract, "--patch", home.index, "--band", "i", "--box",
                         "0,0,5,5", "--origin", "local", "-o", tmp_path / "x.fits", env=env)
        _one_line_error(result, 3, "no deep_coadd for tract")
    result = run_cli("subset", f"{nginx.url}/small/nothing.fits", "--ra", "1", "--dec", "1", "--size", "3",
                     "-o", tmp_path / "x.fits")
    _one_line_error(result, 3, "nothing.fits does not exist")
    result = run_cli("--endpoint-url", s3.url, "subset", "s3://private/small/nothing.fits", "--ra", "1", "--dec", "1",
                     "--size", "3", "-o", tmp_path / "x.fits", env=S3_ENV)
    _one_line_error(result, 3, "s3://private/small/nothing.fits does not exist")


def test_access_denied_exits_6(nginx, s3, local_runs, tmp_path):
    query = ("query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}")
    _one_line_error(run_cli("--repo", f"{nginx.url}/denied/small", *query), 6, "access denied to http")
    wrong_key = {**S3_ENV, "AWS_ACCESS_KEY_ID": "AKIDWRONG"}
    _one_line_error(run_cli(*_cli_args("s3", s3, "small"), *query, env=wrong_key), 6, "access denied to s3://private")
    _one_line_error(run_cli(*_cli_args("s3", s3, "small"), "--anon", *query, env=NO_CREDENTIALS), 6,
                    "or use --anon for a public bucket")
    _one_line_error(run_cli(*_cli_args("s3", s3, "small"), *query, env=NO_CREDENTIALS), 6,
                    "Unable to locate credentials")
    # a batch stops (no manifest of 'no data' rows) when its storage refuses the coadds
    batch = run_cli("--repo", "s3://mixed/small", "--endpoint-url", s3.url, "--anon", "batch", local_runs["targets"],
                    "--size", "9", "--band", "r", "--out", tmp_path / "out", env=NO_CREDENTIALS)
    _one_line_error(batch, 6, "access denied to s3://mixed/small/deep_coadd/")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_unreachable_endpoint_and_timeout_exit_7():
    query = ("query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}")
    port = closed_port()
    _one_line_error(run_cli("--repo", f"http://127.0.0.1:{port}/repo", *query, env=QUICK), 7,
                    f"cannot reach http://127.0.0.1:{port}")
    _one_line_error(run_cli("--repo", "s3://bucket/repo", "--endpoint-url", f"http://127.0.0.1:{port}", *query,
                            env={**QUICK, **S3_ENV}), 7, "cannot reach")
    with silent_server() as silent:
        started = time.monotonic()
        _one_line_error(run_cli("--repo", f"http://127.0.0.1:{silent}/repo", *query, env=QUICK), 7,
                        "timed out (0.5 s)")
        _one_line_error(run_cli("--repo", "s3://bucket/repo", "--endpoint-url", f"http://127.0.0.1:{silent}", *query,
                                env={**QUICK, **S3_ENV}), 7, "timed out")
        assert time.monotonic() - started < 30  # bounded: 2 attempts of 0.5 s each, per command


def test_transient_failures_are_retried_with_backoff(nginx, s3, tmp_path):
    s3.fail_next = 2  # two 503 SlowDown, then the real answers
    before = s3.mark()
    result = run_cli(*_cli_args("s3", s3, "small"), "bbox", "--tract", "5063", "--patch", "0", env=S3_ENV)
    assert result.returncode == 0, result.stderr
    assert [r.status for r in s3.requests()[before:before + 3]] == [503, 503, 200]
    started = time.monotonic()
    result = run_cli("--repo", f"{nginx.url}/broken/small", "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}",
                     env={"CUTOUT_REMOTE_RETRIES": "2"})
    _one_line_error(result, 7, "server error (HTTP 503)")
    assert "after 3 attempts" in result.stderr
    assert time.monotonic() - started >= 0.25 + 0.5  # the backoff waits


def test_server_without_directory_listings(nginx, local_runs, tmp_path):
    """With --band, only existence checks: no listing needed; without, a clear error."""
    args = ("--repo", f"{nginx.url}/nolist/small")
    result = run_cli(*args, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", "31", "--band", "z",
                     "-o", tmp_path / "c.fits")
    assert result.returncode == 0, result.stderr
    assert_same_cutout_files(tmp_path / "c.fits", local_runs["subset"])
    _one_line_error(run_cli(*args, "query", "--pos", f"{TARGET_8[0]} {TARGET_8[1]}"), 6, "need directory listings")


def test_server_without_range_support_exits_5(nginx, tmp_path):
    result = run_cli("--repo", f"{nginx.url}/norange/small", "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1],
                     "--size", "11", "--band", "r", "-o", tmp_path / "x.fits")
    _one_line_error(result, 5, "ignores HTTP Range requests")
    assert not (tmp_path / "x.fits").exists()


# -- batch: ranged reads or downloads ------------------------------------------------------

def _coadd_requests(server, before):
    return [r for r in server.settled()[before:] if r.path.endswith(".fits") and r.method == "GET"]


def test_batch_download_policy(nginx, small_repo, tmp_path):
    args = _cli_args("http", nginx, "small")
    three_in_one_file = _targets_csv(tmp_path / "t.csv", [TARGET_11, _near(small_repo, TARGET_11, 20, 10),
                                                          _near(small_repo, TARGET_11, 40, -20)])
    runs = {}
    for label, extra, env in (("ranged", ["--remote-read", "ranged"], {}),
                              ("download", ["--remote-read", "download"], {}),
                              ("auto, 3 targets >= threshold 3", [], {"CUTOUT_DOWNLOAD_THRESHOLD": "3"}),
                              ("auto, 3 targets < threshold 4", [], {"CUTOUT_DOWNLOAD_THRESHOLD": "4"})):
        out = tmp_path / label.split(",")[0].replace(" ", "_") / label[-1]
        before = nginx.mark()
        result = run_cli(*args, "batch", three_in_one_file, "--size", "25", "--band", "r", "--out", out, "--jobs", "1",
                         *extra, env=env)
        assert result.returncode == 0, result.stderr
        seen = _coadd_requests(nginx, before)
        whole = [r for r in seen if not r.range]
        runs[label] = (len(seen), len(whole))
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
            ["manifest.csv", "t0_r.fits", "t1_r.fits", "t2_r.fits"]
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
        with fits.open(out / "t0_r.fits") as cut:
            assert cut[0].header["SRCFILE"].startswith(nginx.url)
    assert runs["ranged"][1] == 0 and runs["auto, 3 targets < threshold 4"][1] == 0
    assert runs["download"] == (1, 1) and runs["auto, 3 targets >= threshold 3"] == (1, 1)
    ranged, downloaded = tmp_path / "ranged" / "d", tmp_path / "download" / "d"
    for name in ("t0_r.fits", "t1_r.fits", "t2_r.fits"):
        assert_same_cutout_files(downloaded / name, ranged / name)
    # a rerun has nothing to cut: no download
    before = nginx.mark()
    assert run_cli(*args, "batch", three_in_one_file, "--size", "25", "--band", "r", "--out", downloaded, "--jobs", "1",
                   "--remote-read", "download").returncode == 0
    assert _coadd_requests(nginx, before) == []


def test_batch_download_works_without_range_support(nginx, local_runs, tmp_path):
    result = run_cli("--repo", f"{nginx.url}/norange/small", "batch", local_runs["targets"], "--size", "25", "--band",
                     "r", "--out", tmp_path / "out", "--remote-read", "download", "--scratch-dir", tmp_path / "scratch")
    assert result.returncode == 0, result.stderr
    for name in ("t0_r.fits", "t1_r.fits", "t2_r.fits"):
        assert_same_cutout_files(tmp_path / "out" / name, local_runs["batch"] / name)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_batch_stops_cutting_a_file_whose_storage_fails(nginx, local_runs, tmp_path, monkeypatch):
    """A storage failure marks the rows of its task failed at once, without retrying target after target."""
    from cutout_cli.fits import ranged as remote_reader
    from cutout_cli.batch.run import run_batch
    from cutout_cli.errors import UnavailableError

    opens = []

    def failing_open(self, url, options=None):
        opens.append(url)
        raise UnavailableError(f"cannot reach {url} (simulated)")

    monkeypatch.setattr(remote_reader.RangedSource, "__init__", failing_open)
    repo = _remote_repo("http", nginx, "small")
    result = run_batch(repo, local_runs["targets"], tmp_path / "out", size="25", band="r", remote_read="ranged")
    assert result.counts["error"] == 3
    assert all("(simulated)" in row["message"] for row in result.rows)
    assert len(opens) == len(result.plan.groups) == 2  # once per file, not once per target


# -- a repo.json with an inline skymap (issue 17, item 9) -------------------------------------------

@pytest.fixture(scope="module")
def inline_skymap_server(small_repo, tmp_path_factory):
    """nginx serving a copy of the small repository whose repo.json describes its skymap inline."""
    from .conftest import SMALL_SKYMAP, TEMPLATE

    with nginx_serving(tmp_path_factory, "inline") as (root, server):
        repo = root / "inline"
        repo.mkdir()
        (repo / "repo.json").write_text(json.dumps({"skymap": SMALL_SKYMAP, "datasets": {"deep_coadd": TEMPLATE}}))
        (repo / "deep_coadd").symlink_to(Path(small_repo.root) / "deep_coadd")
        yield server


def test_remote_repository_with_an_inline_skymap(inline_skymap_server, local_runs, small_repo, tmp_path):
    server = inline_skymap_server
    base = f"{server.url}/inline"
    remote = Repository(base)
    assert remote.skymap.name == small_repo.skymap.name and not isinstance(remote.config["skymap"], str)
    query = run_cli("--repo", base, "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}", "--format", "json")
    assert query.returncode == 0, query.stderr
    records = json.loads(query.stdout)
    assert [r["path"] for r in records] == [r["path"].replace(local_runs["root"], base) for r in local_runs["query"]]
    assert [{**r, "path": ""} for r in records] == [{**r, "path": ""} for r in local_runs["query"]]
    for name in ("subset", "edge"):  # one patch, and a box assembled from several
        size = "31" if name == "subset" else "61"
        result = run_cli("--repo", base, "subset", "--ra", TARGET_8[0], "--dec", TARGET_8[1], "--size", size,
                         "--band", "z", "-o", tmp_path / f"{name}.fits")
        assert result.returncode == 0, result.stderr
        assert_same_cutout_files(tmp_path / f"{name}.fits", local_runs[name])
    seen = [r for r in server.settled() if r.path.startswith("/inline/")]
    assert any(r.path == "/inline/repo.json" and r.status == 200 for r in seen)
    assert not any("skymaps" in r.path for r in seen)  # nothing but repo.json describes the skymap
