"""The persistent header cache of remote reads (issue 20, part 2): a second open of a file fetches only
its tiles; a changed file is read afresh; entries are whole under concurrent writers; the size is bounded.

The server is nginx on 127.0.0.1 (its access log counts the requests); the truth for pixels is the
same cutout read from the local file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cutout_cli.cutouts.extract import extract
from cutout_cli.cutouts.options import ReadOptions
from cutout_cli.fits.coadd import CoaddFile, open_image_file
from cutout_cli.sky.box import Box
from cutout_cli.storage.header_cache import HeaderCache
from cutout_cli.storage.remote import RemoteOptions

from .conftest import TARGET_11, run_cli
from .remote_servers import nginx_serving

PLANES = ("IMAGE", "MASK", "VARIANCE")


def test_entries_round_trip_and_are_validated(tmp_path):
    cache = HeaderCache(tmp_path / "c", 10**6)
    extents = [(0, b"a" * 2880), (9000, b"table bytes")]
    assert cache.load("http://h/f.fits", 20000, "ETag=1") == []
    cache.store("http://h/f.fits", 20000, "ETag=1", extents)
    assert cache.load("http://h/f.fits", 20000, "ETag=1") == extents
    assert cache.load("http://h/f.fits", 20000, "ETag=2") == []  # changed: read afresh
    assert cache.load("http://h/f.fits", 20001, "ETag=1") == []
    assert cache.load("http://h/g.fits", 20000, "ETag=1") == []
    cache.store("http://h/v.fits", 20000, None, extents)  # no version: a change could not be seen
    assert len(list((tmp_path / "c").iterdir())) == 1


def test_a_damaged_entry_is_ignored_and_replaced(tmp_path):
    cache = HeaderCache(tmp_path, 10**6)
    cache.store("u", 100, "v", [(0, b"x" * 50)])
    (entry,) = tmp_path.glob("*.hdr")
    entry.write_bytes(entry.read_bytes()[:-10])  # cut short
    assert cache.load("u", 100, "v") == []
    entry.write_bytes(b"\xff\x00 not json")
    assert cache.load("u", 100, "v") == []
    cache.store("u", 100, "v", [(0, b"y" * 50)])
    assert cache.load("u", 100, "v") == [(0, b"y" * 50)]


def test_the_least_recently_used_entries_go_first(tmp_path):
    cache = HeaderCache(tmp_path, 3 * 1200)
    for name in "abc":
        cache.store(name, 10**6, "v", [(0, bytes(1000))])
        time.sleep(0.02)
    assert cache.load("a", 10**6, "v")  # touched: now the most recent
    time.sleep(0.02)
    cache.store("d", 10**6, "v", [(0, bytes(1000))])
    kept = {name for name in "abcd" if cache.load(name, 10**6, "v")}
    assert kept == {"a", "c", "d"}
    assert sum(p.stat().st_size for p in tmp_path.glob("*.hdr")) <= 3 * 1200


WRITER = """
import sys
from cutout_cli.storage.header_cache import HeaderCache
cache = HeaderCache(sys.argv[1], 10**8)
fill = int(sys.argv[2])
for _ in range(200):
    cache.store("shared", 10**7, "v", [(0, bytes([fill]) * 100_000), (500_000, bytes([fill]) * 3000)])
"""


def test_concurrent_writers_leave_whole_entries(tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(fill)]) for fill in (1, 2)]
    cache = HeaderCache(tmp_path, 10**8)
    seen = set()
    while any(w.poll() is None for w in writers):
        found = cache.load("shared", 10**7, "v")
        if found:
            fills = {data[0] for _, data in found}
            assert len(fills) == 1 and all(data == bytes(data[:1]) * len(data) for _, data in found)
            seen |= fills
    assert all(w.wait() == 0 for w in writers)
    assert cache.load("shared", 10**7, "v") and not list(tmp_path.glob("*.tmp"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, small_repo):
    with nginx_serving(tmp_path_factory, "header_cache") as (root, server):
        source = Path(small_repo.expected_path(None, small_repo.home(*TARGET_11), "r"))
        (root / "coadd.fits").write_bytes(source.read_bytes())
        yield root, server, source


def _cut(url, cache_dir, box):
    options = RemoteOptions.from_env(cache_dir=str(cache_dir))
    with open_image_file(url, options) as image:
        return extract(image, box, ReadOptions(PLANES))


def _requests_of(server, action):
    before = server.mark()
    result = action()
    return result, server.settled()[before:]


def test_a_second_open_fetches_only_the_tiles(served, small_repo, tmp_path):
    root, server, source = served
    url = f"{server.url}/coadd.fits"
    tract = small_repo.skymap.find_tract(*TARGET_11)
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*TARGET_11)), 50, 50)
    with CoaddFile(str(source)) as local:
        truth = extract(local, box, ReadOptions(PLANES))

    cold, cold_requests = _requests_of(server, lambda: _cut(url, tmp_path / "cache", box))
    warm, warm_requests = _requests_of(server, lambda: _cut(url, tmp_path / "cache", box))
    for cut in (cold, warm):
        for name in PLANES:
            assert cut.planes[name].tobytes() == truth.planes[name].tobytes(), name
    assert list(tmp_path.joinpath("cache").glob("*.hdr"))
    heads = [r for r in warm_requests if r.method == "HEAD"]
    assert len(heads) == 1  # the validation of the entry: size and ETag
    assert len(warm_requests) < len(cold_requests)
    # what remains is the tiles: the bytes of the warm run are those of its few range requests
    assert sum(r.bytes_sent for r in warm_requests) < sum(r.bytes_sent for r in cold_requests)
    _, uncached_requests = _requests_of(server, lambda: _cut(url, tmp_path / "other", box))
    assert len(uncached_requests) == len(cold_requests)  # the cache, not the server, made the difference


def test_a_changed_file_is_read_afresh(served, small_repo, tmp_path):
    root, server, source = served
    (root / "changing.fits").write_bytes(source.read_bytes())
    url = f"{server.url}/changing.fits"
    tract = small_repo.skymap.find_tract(*TARGET_11)
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*TARGET_11)), 30, 30)
    first = _cut(url, tmp_path, box)
    # the same bytes with a new modification time: nginx's ETag changes, the entry no longer holds
    later = time.time() + 5
    os.utime(root / "changing.fits", (later, later))
    _, requests = _requests_of(server, lambda: _cut(url, tmp_path, box))
    assert len([r for r in requests if r.method == "GET"]) > 2  # headers and tables fetched again
    again, requests = _requests_of(server, lambda: _cut(url, tmp_path, box))
    assert again.planes["IMAGE"].tobytes() == first.planes["IMAGE"].tobytes()


def test_cli_cache_dir_option(served, tmp_path):
    _, server, _ = served

    def subset(name):
        before = server.mark()
        done = run_cli("subset", f"{server.url}/coadd.fits", "--ra", TARGET_11[0], "--dec", TARGET_11[1],
                       "--size", 20, "-o", tmp_path / name, "--cache-dir", tmp_path / "cache", "-q")
        assert done.returncode == 0, done.stderr
        return len(server.settled()) - before

    cold, warm = subset("a.fits"), subset("b.fits")
    assert warm < cold and list((tmp_path / "cache").glob("*.hdr"))
    assert _data(tmp_path / "a.fits") == _data(tmp_path / "b.fits")


def _data(path):
    from astropy.io import fits

    with fits.open(path) as hdus:
        return [h.data.tobytes() for h in hdus[1:]]


def test_s3_entries_are_validated_by_the_etag(small_repo, tmp_path, monkeypatch):
    from .remote_servers import S3Server
    from .test_remote import S3_ENV

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    source = Path(small_repo.expected_path(None, small_repo.home(*TARGET_11), "r"))
    tract = small_repo.skymap.find_tract(*TARGET_11)
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*TARGET_11)), 40, 40)
    with S3Server() as s3:
        s3.upload_tree(source.parent, "cache", "p")
        url = f"s3://cache/p/{source.name}"

        def cut():
            options = RemoteOptions.from_env(endpoint_url=s3.url, cache_dir=str(tmp_path))
            with open_image_file(url, options) as image:
                return extract(image, box, ReadOptions(PLANES))

        cold, cold_requests = _requests_of(s3, cut)
        warm, warm_requests = _requests_of(s3, cut)
        assert len(warm_requests) < len(cold_requests) and list(tmp_path.glob("*.hdr"))
        s3.client().put_object(Bucket="cache", Key=f"p/{source.name}", Body=source.read_bytes()[:-2880] + bytes(2880))
        _, changed_requests = _requests_of(s3, cut)
        assert len(changed_requests) == len(cold_requests)  # a new ETag: read afresh
    assert warm.planes["IMAGE"].tobytes() == cold.planes["IMAGE"].tobytes()
