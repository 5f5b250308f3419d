"""``cutout serve`` from outside: real server processes on 127.0.0.1, real clients (pyvo, httpx, raw sockets).

The repository is the suite's full-size patch (``sample_patch33``: tract 5063 patch 33, bands r and z,
3400 x 3400 px per coadd) and a real Butler repository built from it.  Checked:

1. pyvo's SodaQuery (circle, polygon, range): bytes read by astropy and fitsio, pixels, sky WCS and box
   equal to ``cutout subset --pos ... -o`` run as a process; pyvo errors for bad IDs;
2. plain HTTP: GET = POST, /api/cutout = ``subset --ra --dec --size``, /api/query ids usable, VOSI;
3. the Butler repository: ids are the Butler's dataset ids, UUID / ivo:// / data ID give the same cutout;
4. hostile inputs: status, one-line SODA error, no traceback anywhere, the server still answering;
5. slow clients (slowloris headers, a body that never ends: 408);
6. limits (concurrency + queue: 503 + Retry-After; --timeout);
7. bearer tokens (file, environment, short token refused);
8. SIGTERM with a request in flight, port in use, bad --repo.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cutout_cli._sample.butler import DEFAULT_CHAIN, build_butler_repo
from tests.butler_truth import butler_query
from tests.conftest import TARGET_11, help_examples, run_cli
from tests.serve_helpers import (Server, box, connect, error_line, fitsio_planes, library_server, planes,
                                 read_response, same_pixels, sky_wcs, wait_until)

RA, DEC = TARGET_11
RADIUS = 0.005  # deg: 90 px, well inside patch 33
DATA_ID = "deep_coadd/5063/33/r"
CIRCLE = f"{RA} {DEC} {RADIUS}"
SMALL_MAX_PIXELS = 1_000_000  # the main server's --max-pixels: a whole patch (11.56 Mpx) is refused
WHOLE_PATCH_BYTES_MIN = 3400 * 3400 * 12


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo_root(sample_patch33):
    return sample_patch33.root


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("serve_logs")


@pytest.fixture(scope="module")
def start_server(logs):
    """``start_server(repo, *serve_options, env=None, collections=None)``: a running server; all are
    stopped at the module's teardown."""
    started = []

    def starter(repo, *options, env=None, collections=None, wait=True):
        args = ["--repo", repo, *(("--collections", collections) if collections else ()), "serve",
                "--host", "127.0.0.1", "--port", "0", *options]
        server = Server(logs, *args, env=env, wait=wait)
        started.append(server)
        return server

    yield starter
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(start_server, repo_root):
    return start_server(repo_root, "--max-pixels", SMALL_MAX_PIXELS)


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def butler_root(repo_root, tmp_path_factory):
    return build_butler_repo(repo_root, tmp_path_factory.mktemp("serve_butler") / "repo")


@pytest.fixture(scope="module")
def butler_server(start_server, butler_root):
    return start_server(butler_root, collections=DEFAULT_CHAIN)


def subset(repo, tmp_path, *args):
    """``cutout subset ARGS -o file`` as a process; the planes of the file."""
    out = tmp_path / f"subset.{time.monotonic_ns()}.fits"
    done = run_cli("--repo", repo, "subset", *args, "-o", out)
    assert done.returncode == 0, done.stderr
    return planes(out.read_bytes())


def assert_same_cutout(served: dict, written: dict):
    assert box(served) == box(written)
    assert sky_wcs(served["header"]) == sky_wcs(written["header"])
    assert same_pixels(served, written)


def sync(client, server, **params):
    return client.get(f"{server.base}/sync", params=params)


def assert_alive(client, server):
    response = client.get(f"{server.base}/sync", params={"ID": DATA_ID, "CIRCLE": CIRCLE})
    assert response.status_code == 200 and response.content.startswith(b"SIMPLE")


# -- 1. pyvo --------------------------------------------------------------------------------------

def pyvo_cutout(base, dataset, post=False, **stencil):
    from pyvo.dal.adhoc import SodaQuery

    query = SodaQuery(f"{base}/sync", **stencil)
    query["ID"] = dataset
    stream = query.execute_stream(post=post)
    query.raise_if_error()  # pyvo raises DALServiceError here, not in execute_stream
    return stream.read()


@pytest.mark.parametrize("stencil, pos", [
    ({"circle": (RA, DEC, RADIUS)}, f"CIRCLE {CIRCLE}"),
    ({"polygon": (RA - 0.004, DEC - 0.003, RA + 0.004, DEC - 0.003, RA, DEC + 0.004)},
     f"POLYGON {RA - 0.004} {DEC - 0.003} {RA + 0.004} {DEC - 0.003} {RA} {DEC + 0.004}"),
    ({"range": (RA - 0.004, RA + 0.004, DEC - 0.003, DEC + 0.003)},
     f"RANGE {RA - 0.004} {RA + 0.004} {DEC - 0.003} {DEC + 0.003}"),
], ids=["circle", "polygon", "range"])
def test_pyvo_soda_query_equals_subset_pos(server, repo_root, tmp_path, stencil, pos):
    from pyvo.dal.adhoc import SodaQuery

    sent = dict(SodaQuery(f"{server.base}/sync", **stencil))  # what pyvo sends: CIRCLE, POLYGON or POS=RANGE
    kind = next(iter(stencil))
    assert sent == {"circle": {"CIRCLE": CIRCLE}, "range": {"POS": pos}}.get(kind, {"POLYGON": pos[len("POLYGON "):]})
    data = pyvo_cutout(server.base, DATA_ID, **stencil)
    served = planes(data)
    assert same_pixels(served, fitsio_planes(data, tmp_path))
    written = subset(repo_root, tmp_path, "--pos", pos, "--band", "r")
    assert_same_cutout(served, written)
    assert served["primary"]["SRCFILE"].startswith("<repository>/")
    assert str(repo_root) not in data.decode("latin-1")
    assert _without_date(pyvo_cutout(server.base, DATA_ID, post=True, **stencil)) == _without_date(data)


@pytest.mark.parametrize("dataset, code", [("../../etc/passwd", 400), ("deep_coadd/5063/33/x", 404),
                                           ("deep_coadd/5063/99999/r", 404)])
def test_pyvo_raises_dal_service_error_for_bad_ids(server, dataset, code):
    from pyvo.dal import DALServiceError

    with pytest.raises(DALServiceError) as raised:
        pyvo_cutout(server.base, dataset, circle=(RA, DEC, RADIUS))
    assert "UsageError" in str(raised.value)
    assert raised.value.code == code


# -- 2. plain HTTP ----------------------------------------------------------------------------------

def test_get_and_form_post_give_identical_bytes(server, client):
    params = {"ID": DATA_ID, "CIRCLE": CIRCLE}
    got = client.get(f"{server.base}/sync", params=params)
    posted = client.post(f"{server.base}/sync", data=params)
    assert got.status_code == posted.status_code == 200
    assert got.headers["content-type"] == "application/fits"
    assert len(got.content) == len(posted.content)
    # the DATE card (the time the cutout was made) may differ by a second: everything else is the same
    assert _without_date(got.content) == _without_date(posted.content)


def _without_date(data: bytes) -> bytes:
    cards = [data[i:i + 80] for i in range(0, len(data), 80)]
    return b"".join(card for card in cards if not card.startswith(b"DATE    ="))


def test_api_cutout_get_and_json_post_equal_subset_ra_dec_size(server, client, repo_root, tmp_path):
    params = {"ra": RA, "dec": DEC, "size": "60arcsec", "band": "r"}
    got = client.get(f"{server.base}/api/cutout", params=params)
    posted = client.post(f"{server.base}/api/cutout", json=params)
    assert got.status_code == posted.status_code == 200, (got.text[:200], posted.text[:200])
    written = subset(repo_root, tmp_path, "--ra", RA, "--dec", DEC, "--size", "60arcsec", "--band", "r")
    for response in (got, posted):
        assert_same_cutout(planes(response.content), written)


def test_api_query_ids_are_usable_in_sync(server, client):
    response = client.get(f"{server.base}/api/query", params={"pos": f"{RA} {DEC}"})
    assert response.status_code == 200
    records = response.json()
    assert {r["band"] for r in records} == {"r", "z"}
    assert all("path" not in r and "uri" not in r for r in records)
    for record in records:
        cut = sync(client, server, ID=record["id"], CIRCLE=CIRCLE)
        assert cut.status_code == 200 and planes(cut.content)["primary"]["BAND"] == record["band"]
    by_ra_dec = client.get(f"{server.base}/api/query", params={"ra": RA, "dec": DEC, "band": "r"}).json()
    assert [r["id"] for r in by_ra_dec] == [DATA_ID]


def test_one_access_log_line_per_request_and_none_with_no_access_log(server, start_server, repo_root):
    agent = f"serve-test-{time.monotonic_ns()}"
    with httpx.Client(timeout=30, headers={"User-Agent": agent}) as c:
        for _ in range(3):
            c.get(f"{server.base}/availability")
        c.get(f"{server.base}/sync", params={"ID": "../x"})
    assert wait_until(lambda: server.stderr.count(agent) == 4, 5), server.stderr[-1000:]
    lines = [line for line in server.stderr.splitlines() if agent in line]
    assert sum('"GET /availability HTTP/1.1" 200' in line for line in lines) == 3
    assert sum('"GET /sync?ID=' in line and 'HTTP/1.1" 400 ' in line for line in lines) == 1, lines
    quiet = start_server(repo_root, "--no-access-log")
    with httpx.Client(timeout=30, headers={"User-Agent": agent}) as c:
        assert c.get(f"{quiet.base}/availability").status_code == 200
    assert quiet.terminate() == 0  # every line it would write is written by then
    assert agent not in quiet.stderr


def test_vosi_capabilities_and_availability(server, client):
    response = client.get(f"{server.base}/capabilities")
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    sync_caps = [c for c in root.iter("capability") if c.get("standardID") == "ivo://ivoa.net/std/SODA#sync-1.0"]
    assert len(sync_caps) == 1
    urls = [u.text for u in sync_caps[0].iter("accessURL")]
    assert urls == [f"{server.base}/sync"]
    available = ET.fromstring(client.get(f"{server.base}/availability").content)
    assert [e.text for e in available.iter("{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available")] == ["true"]



def test_the_help_examples_work(start_server, repo_root, tmp_path):
    """``cutout serve --help``'s examples as printed: the server (on a free port instead of 8000), then
    each curl line run by curl itself, each writing the cutout ``subset`` writes for the same request."""
    import shlex
    from urllib.parse import parse_qs, urlsplit

    help_text = run_cli("serve", "--help").stdout
    (serving,), fetches = help_examples(help_text), help_examples(help_text, "curl")
    assert len(fetches) >= 2
    options = shlex.split(serving)[2:]
    port_at = options.index("--port") + 1
    printed_port, options[port_at] = options[port_at], "0"
    server = start_server(repo_root, *options)
    for line in fetches:
        args = shlex.split(line.replace(f"127.0.0.1:{printed_port}", f"127.0.0.1:{server.port}"))
        done = subprocess.run(["curl", "--fail", "--silent", "--show-error", *args[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        url = urlsplit(args[-1])
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        if url.path == "/sync":
            request = ("--pos", "CIRCLE " + query["CIRCLE"], "--band", query["ID"].split("/")[-1])
        else:
            request = ("--ra", query["ra"], "--dec", query["dec"], "--size", query["size"], "--band", query["band"])
        served = planes((tmp_path / args[args.index("-o") + 1]).read_bytes())
        assert_same_cutout(served, subset(repo_root, tmp_path, *request))


# -- 3. Butler repository --------------------------------------------------------------------------

@pytest.mark.parametrize("band", ["r", None])
def test_butler_query_ids_are_the_butler_dataset_ids(butler_server, butler_root, client, band):
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", band, RA, DEC)
    assert len(truth) == (1 if band else 2)
    params = {"pos": f"{RA} {DEC}", **({"band": band} if band else {})}
    response = client.get(f"{butler_server.base}/api/query", params=params)
    assert response.status_code == 200, response.text
    assert sorted(r["id"] for r in response.json()) == sorted(t["dataset_id"] for t in truth)
    assert all("uri" not in r and "path" not in r for r in response.json())
    assert str(butler_root) not in response.text


def test_butler_parallel_requests_by_uuid(butler_server, butler_root):
    truth = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", None, RA, DEC)

    def cut(i):
        record = truth[i % len(truth)]
        response = httpx.get(f"{butler_server.base}/sync", params={"ID": record["dataset_id"], "CIRCLE": CIRCLE},
                             timeout=60)
        return record["band"], response.status_code, response.content

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(cut, range(12)))
    assert [status for _, status, _ in results] == [200] * 12
    for band in ("r", "z"):
        cutouts = [planes(data) for b, _, data in results if b == band]
        assert all(same_pixels(c, cutouts[0]) and c["primary"]["BAND"] == band for c in cutouts)


def test_butler_uuid_ivo_and_data_id_give_the_same_cutout(butler_server, butler_root, client):
    uuid = butler_query(butler_root, DEFAULT_CHAIN, "deep_coadd", "r", RA, DEC)[0]["dataset_id"]
    found = {}
    for dataset in (uuid, f"ivo://org.rubinobs/usdac/dp1?repo=dp1&id={uuid}", DATA_ID):
        response = sync(client, butler_server, ID=dataset, CIRCLE=CIRCLE)
        assert response.status_code == 200, (dataset, response.text[:300])
        found[dataset] = planes(response.content)
        assert str(butler_root) not in response.content.decode("latin-1")
    first = found[uuid]
    for other in found.values():
        assert box(other) == box(first) and same_pixels(other, first)
    assert first["primary"]["DATAID"] == uuid


def test_butler_unknown_uuid_is_404(butler_server, client):
    response = sync(client, butler_server, ID="00000000-0000-5000-8000-000000000000", CIRCLE=CIRCLE)
    assert response.status_code == 404 and error_line(response.text, "UsageError"), response.text


# -- 4. hostile inputs ------------------------------------------------------------------------------

LONG_POLYGON = " ".join(f"{RA + 0.003 * math.cos(2 * math.pi * k / 1000):.7f} "
                        f"{DEC + 0.003 * math.sin(2 * math.pi * k / 1000):.7f}" for k in range(1000))
POLYGON_70 = " ".join(f"{RA + 0.003 * math.cos(2 * math.pi * k / 70):.7f} "
                      f"{DEC + 0.003 * math.sin(2 * math.pi * k / 70):.7f}" for k in range(70))
MULTI = "MultiValuedParamNotSupported"
#: (name, params of GET /sync as (name, value) pairs, status, SODA code)
SYNC_CASES = [
    ("dotdot", [("ID", "../../etc/passwd"), ("CIRCLE", CIRCLE)], 400, "UsageError"),
    ("absolute", [("ID", "/etc/passwd")], 400, "UsageError"),
    ("dotdot-inside", [("ID", "5063/33/../../r"), ("CIRCLE", CIRCLE)], 400, "UsageError"),
    ("dotdot-band", [("ID", "deep_coadd/5063/33/../r"), ("CIRCLE", CIRCLE)], 400, "UsageError"),
    ("nul", [("ID", "5063/33/r\x00"), ("CIRCLE", CIRCLE)], 400, "UsageError"),
    ("nul-mid", [("ID", "5063/33\x00/r")], 400, "UsageError"),
    ("ivo-dotdot", [("ID", "ivo://x/y?id=../../etc/passwd")], 400, "UsageError"),
    ("id-600-chars", [("ID", "5" * 600)], 400, "UsageError"),
    ("circle-nan", [("ID", DATA_ID), ("CIRCLE", f"nan {DEC} 0.01")], 400, "UsageError"),
    ("circle-inf", [("ID", DATA_ID), ("CIRCLE", f"{RA} {DEC} inf")], 400, "UsageError"),
    ("pos-nan", [("ID", DATA_ID), ("POS", f"CIRCLE {RA} nan 0.01")], 400, "UsageError"),
    ("range-nan", [("ID", DATA_ID), ("POS", f"RANGE nan {RA} {DEC} {DEC + 0.01}")], 400, "UsageError"),
    ("circle-short", [("ID", DATA_ID), ("POS", "CIRCLE 1 2")], 400, "UsageError"),
    ("polygon-short", [("ID", DATA_ID), ("POS", "POLYGON 1 2 3")], 400, "UsageError"),
    ("foo", [("ID", DATA_ID), ("POS", "FOO 1 2 3")], 400, "UsageError"),
    ("range-dec-reversed", [("ID", DATA_ID), ("POS", f"RANGE {RA} {RA + 0.01} {DEC} {DEC - 0.01}")], 400,
     "UsageError"),
    ("circle-negative", [("ID", DATA_ID), ("CIRCLE", f"{RA} {DEC} -0.01")], 400, "UsageError"),
    ("circle-zero", [("ID", DATA_ID), ("CIRCLE", f"{RA} {DEC} 0")], 400, "UsageError"),
    ("circle-huge", [("ID", DATA_ID), ("CIRCLE", f"{RA} {DEC} 1e300")], 400, "UsageError"),
    ("dec-beyond-pole", [("ID", DATA_ID), ("CIRCLE", f"{RA} -127 0.01")], 400, "UsageError"),
    ("polygon-70-vertices", [("ID", DATA_ID), ("POLYGON", POLYGON_70)], 400, "UsageError"),
    ("two-ids", [("ID", DATA_ID), ("ID", DATA_ID), ("CIRCLE", CIRCLE)], 400, MULTI),
    ("two-ids-mixed-case", [("ID", DATA_ID), ("id", "deep_coadd/5063/33/z"), ("CIRCLE", CIRCLE)], 400, MULTI),
    ("two-stencils", [("ID", DATA_ID), ("CIRCLE", CIRCLE), ("POS", f"CIRCLE {CIRCLE}")], 400, MULTI),
    ("two-circles", [("ID", DATA_ID), ("CIRCLE", CIRCLE), ("CIRCLE", CIRCLE)], 400, MULTI),
    ("band", [("ID", DATA_ID), ("BAND", "6e-7 7e-7")], 400, "UsageError"),
    ("time", [("ID", DATA_ID), ("TIME", "60000 60001")], 400, "UsageError"),
    ("pol", [("ID", DATA_ID), ("POL", "I")], 400, "UsageError"),
    ("png", [("ID", DATA_ID), ("CIRCLE", CIRCLE), ("RESPONSEFORMAT", "image/png")], 400, "UsageError"),
    ("no-id", [("CIRCLE", CIRCLE)], 400, "UsageError"),
    ("unknown-band", [("ID", "deep_coadd/5063/33/x"), ("CIRCLE", CIRCLE)], 404, "UsageError"),
    ("unknown-patch", [("ID", "deep_coadd/5063/99999/r")], 404, "UsageError"),
    ("unknown-tract", [("ID", "deep_coadd/1/33/r")], 404, "UsageError"),
    ("unknown-type", [("ID", "foo/5063/33/r")], 404, "UsageError"),
    ("unknown-uuid", [("ID", "0123456789abcdef0123456789abcdef")], 404, "UsageError"),
    ("whole-patch", [("ID", DATA_ID)], 400, "UsageError"),
    ("circle-over-patch", [("ID", DATA_ID), ("CIRCLE", f"{RA} {DEC} 1")], 400, "UsageError"),
]
#: (name, raw path and query, status, code): what a client's own encoding would not send
RAW_CASES = [
    ("encoded-dotdot", "/sync?ID=%2e%2e%2f%2e%2e%2fetc%2fpasswd", 400, "UsageError"),
    ("double-encoded", "/sync?ID=..%252f..%252fetc%252fpasswd", 400, "UsageError"),
    ("encoded-nul", f"/sync?ID=5063/33/r%00&CIRCLE={CIRCLE.replace(' ', '+')}", 400, "UsageError"),
    ("path-dotdot", "/sync/../../etc/passwd", 404, "UsageError"),
    ("unknown-route", "/nope", 404, "UsageError"),
    ("nul-route", "/sync%00", 404, "UsageError"),
    ("id-10kB-get", "/sync?ID=" + "a" * 10_000, 400, "UsageError"),
    ("polygon-1000-get", f"/sync?ID={DATA_ID}&POLYGON=" + LONG_POLYGON.replace(" ", "+"), 400, "UsageError"),
]


def assert_error(server, response, status, code, before: int):
    """``response`` is the error ``code`` with ``status`` as one line (JSON on /api), the server logged
    no traceback for it, and it still answers."""
    text = response.text
    assert response.status_code == status, text[:300]
    if response.request.url.path.startswith("/api/"):
        assert response.headers["content-type"].startswith("application/json"), response.headers
        body = response.json()
        assert body["error"] == code and "\n" not in body["message"] and "Traceback" not in body["message"], body
    else:
        assert response.headers["content-type"].startswith("text/plain"), response.headers
        assert error_line(text, code), text[:300]
    logged = server.stderr[before:]
    assert "Traceback" not in logged and "Error handling request" not in logged, logged[-2000:]


def form(pairs) -> dict:
    """A form body of ``(name, value)`` pairs, repeated names kept."""
    fields: dict = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


@pytest.mark.parametrize("name, params, status, code", SYNC_CASES, ids=[c[0] for c in SYNC_CASES])
def test_hostile_sync_parameters(server, client, name, params, status, code):
    before = len(server.stderr)
    assert_error(server, client.get(f"{server.base}/sync", params=params), status, code, before)
    before = len(server.stderr)
    assert_error(server, client.post(f"{server.base}/sync", data=form(params)), status, code, before)
    assert_alive(client, server)


@pytest.mark.parametrize("name, target, status, code", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_hostile_raw_requests(server, client, name, target, status, code):
    before = len(server.stderr)
    with connect(server.port) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        got, headers, body = read_response(sock)
    response = httpx.Response(got, headers=headers, content=body,
                              request=httpx.Request("GET", f"{server.base}/sync"))
    assert_error(server, response, status, code, before)
    assert_alive(client, server)


#: (name, whole raw request): HTTP that aiohttp's parser refuses before any handler or middleware runs
MALFORMED_HTTP = [
    ("garbage-method", b"GARBAGE\r\n\r\n"),
    ("header-10kB", b"GET /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"),
    ("bad-content-length", b"POST /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"),
    ("bad-chunk", b"POST /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\n"),
    ("non-ascii-url", "GET /sync?ID=5063/33/r\u00e9 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()),
]


@pytest.mark.parametrize("name, request_bytes", MALFORMED_HTTP, ids=[c[0] for c in MALFORMED_HTTP])
def test_malformed_http_is_a_400_and_one_log_line(server, client, name, request_bytes):
    """HTTP that aiohttp's parser refuses (not a SODA request at all) gets its plain 400; the service logs
    one line for it, never a traceback (docs/serve.md, Errors)."""
    before = len(server.stderr)
    with connect(server.port) as sock:
        sock.sendall(request_bytes)
        got, headers, body = read_response(sock)
    assert got == 400, (got, body[:200])
    assert b"Traceback" not in body
    assert_alive(client, server)
    assert not any("Traceback" in line for line in list(server.stderr)[before:])


@pytest.mark.parametrize("path", ["/sync", "/api/cutout"])
def test_a_malformed_multipart_body_is_a_usage_error(server, client, path):
    before = len(server.stderr)
    response = client.post(f"{server.base}{path}", content=b"ID=%ff",
                           headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert_error(server, response, 400, "UsageError", before)
    assert_alive(client, server)


def test_long_values_in_a_form_body_are_usage_errors(server, client):
    for params in ({"ID": "a" * 10_000}, {"ID": DATA_ID, "POLYGON": LONG_POLYGON}):
        before = len(server.stderr)
        assert_error(server, client.post(f"{server.base}/sync", data=params), 400, "UsageError", before)
    assert_alive(client, server)


SKY = {"ra": RA, "dec": DEC, "size": "60arcsec", "band": "r"}
#: (name, /api/cutout parameters, status, code)
API_CASES = [
    ("size-60deg", {**SKY, "size": "60deg"}, 400, "UsageError"),
    ("size-negative", {**SKY, "size": "-5arcsec"}, 400, "UsageError"),
    ("size-zero", {**SKY, "size": "0"}, 400, "UsageError"),
    ("size-nan", {**SKY, "size": "nan"}, 400, "UsageError"),
    ("size-1e30", {**SKY, "size": "1e30"}, 400, "UsageError"),
    ("ra-nan", {**SKY, "ra": "nan"}, 400, "UsageError"),
    ("dec-inf", {**SKY, "dec": "inf"}, 400, "UsageError"),
    ("band-dotdot", {**SKY, "band": "../r"}, 400, "UsageError"),
    ("band-nul", {**SKY, "band": "r\x00"}, 400, "UsageError"),
    ("type-dotdot", {**SKY, "dataset_type": "../../etc"}, 400, "UsageError"),
    ("unknown-param", {**SKY, "path": "/etc/passwd"}, 400, "UsageError"),
    ("missing-band", {k: v for k, v in SKY.items() if k != "band"}, 400, "UsageError"),
    ("no-data-there", {**SKY, "ra": 10, "dec": 10}, 404, "UsageError"),
    ("unknown-band", {**SKY, "band": "x"}, 404, "UsageError"),
]


@pytest.mark.parametrize("name, params, status, code", API_CASES, ids=[c[0] for c in API_CASES])
def test_hostile_api_cutout(server, client, name, params, status, code):
    for send in (lambda: client.get(f"{server.base}/api/cutout", params=params),
                 lambda: client.post(f"{server.base}/api/cutout", json=params)):
        before = len(server.stderr)
        assert_error(server, send(), status, code, before)
    assert_alive(client, server)


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"\xff\xfe", b'{"ra": [1], "dec": 2, "size": 1, "band": "r"}',
                                  b'{"ra": true, "dec": 2, "size": 1, "band": "r"}'])
def test_bad_json_bodies(server, client, body):
    before = len(server.stderr)
    response = client.post(f"{server.base}/api/cutout", content=body, headers={"Content-Type": "application/json"})
    assert_error(server, response, 400, "UsageError", before)


@pytest.mark.parametrize("query", ["pos=nan+1", "pos=foo", "band=../r&pos=53.3+-27.8", "",
                                   "pos=53.3+-27.8&dataset_type=../x", "pos=1e400+2"])
def test_hostile_api_query(server, client, query):
    before = len(server.stderr)
    assert_error(server, client.get(f"{server.base}/api/query?{query}"), 400, "UsageError", before)


def test_large_bodies_unknown_routes_and_methods(server, client):
    before = len(server.stderr)
    big = b"ID=" + b"a" * 70_000
    cases = [(client.post(f"{server.base}/sync", content=big,
                          headers={"Content-Type": "application/x-www-form-urlencoded"}), 413),
             (client.post(f"{server.base}/api/cutout", content=b"{" + b" " * 70_000 + b"}",
                          headers={"Content-Type": "application/json"}), 413),
             (client.get(f"{server.base}/api/nope"), 404), (client.delete(f"{server.base}/sync"), 405),
             (client.put(f"{server.base}/api/cutout"), 405), (client.post(f"{server.base}/api/query"), 405),
             (client.post(f"{server.base}/capabilities"), 405)]
    for response, status in cases:
        assert_error(server, response, status, "UsageError", before)
    assert_alive(client, server)


def test_whole_patch_beyond_max_pixels_says_larger_than_served(server, client):
    response = sync(client, server, ID=DATA_ID)
    assert response.status_code == 400 and "larger than this service serves" in response.text, response.text


def test_non_overlapping_circle_is_204_empty(server, client):
    for params in ({"ID": DATA_ID, "CIRCLE": "10 10 0.01"}, {"ID": DATA_ID, "POS": "RANGE 10 11 10 11"}):
        response = sync(client, server, **params)
        assert response.status_code == 204 and response.content == b""


# -- 5. slow clients ----------------------------------------------------------------------------------

def slow_sender(port, stop: threading.Event, sent: list):
    """Slowloris: a request's headers, one byte every 0.2 s, never finished while ``stop`` is clear."""
    request = (f"GET /sync?ID={DATA_ID} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a" * 10_000).encode()
    with connect(port) as sock:
        for byte in request:
            if stop.wait(0.2):
                break
            sock.sendall(bytes([byte]))
            sent.append(byte)


def test_slowloris_does_not_hold_up_other_clients(server, client):
    stop, sent = threading.Event(), []
    slow = threading.Thread(target=slow_sender, args=(server.port, stop, sent), daemon=True)
    half_open = [connect(server.port) for _ in range(20)]
    try:
        for sock in half_open:
            sock.sendall(b"POST /sync HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        slow.start()
        assert wait_until(lambda: len(sent) >= 3, 10)
        started = time.monotonic()
        with httpx.Client(timeout=10) as other:
            for _ in range(3):
                assert_alive(other, server)
            assert other.get(f"{server.base}/availability").status_code == 200
        assert time.monotonic() - started < 5
        assert slow.is_alive(), "the slow client finished (or was cut off) before the others were served"
    finally:
        stop.set()
        slow.join(5)
        for sock in half_open:
            sock.close()


@pytest.fixture(scope="module")
def quick_body_server(logs, repo_root):
    """A server with a 1 s body timeout (``Limits.body_timeout``; the CLI has no option for it: 10 s)."""
    server = library_server(logs, repo_root, 1.0)
    yield server
    server.stop()


@pytest.mark.parametrize("path, content_type", [("/sync", "application/x-www-form-urlencoded"),
                                                ("/api/cutout", "application/json")])
def test_a_body_that_never_ends_gets_408(quick_body_server, path, content_type):
    server = quick_body_server
    with connect(server.port) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: 1000\r\n\r\nID=deep".encode())
        started = time.monotonic()
        status, headers, body = read_response(sock)
        elapsed = time.monotonic() - started
    assert status == 408, body[:300]
    assert 0.8 < elapsed < 5, elapsed
    text = body.decode()
    if path.startswith("/api/"):
        assert json.loads(text)["error"] == "UsageError"
    else:
        assert error_line(text, "UsageError"), text
    with httpx.Client(timeout=10) as other:
        assert_alive(other, server)


# -- 6. limits ------------------------------------------------------------------------------------------

def whole_patch(base) -> tuple[int, dict, int, bytes]:
    """GET the whole patch: status, headers, bytes received, the first bytes of the body."""
    with httpx.stream("GET", f"{base}/sync", params={"ID": DATA_ID}, timeout=60) as response:
        received, head = 0, b""
        for chunk in response.iter_bytes():
            head = head or chunk[:200]
            received += len(chunk)
        return response.status_code, dict(response.headers), received, head


def test_concurrency_and_queue_bound_give_503_with_retry_after(start_server, repo_root):
    server = start_server(repo_root, "--concurrency", 1, "--queue", 1)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: whole_patch(server.base), range(8)))
    statuses = [status for status, *_ in results]
    assert set(statuses) <= {200, 503} and 503 in statuses and 200 in statuses, statuses
    for status, headers, received, head in results:
        if status == 503:
            assert int(headers["retry-after"]) > 0
            assert head.startswith(b"ServiceUnavailable: "), head
        else:
            assert received == int(headers["content-length"]) >= WHOLE_PATCH_BYTES_MIN


def test_timeout_gives_503(start_server, repo_root):
    server = start_server(repo_root, "--timeout", 0.1)
    status, headers, _, head = whole_patch(server.base)
    assert status == 503 and int(headers["retry-after"]) > 0 and head.startswith(b"ServiceUnavailable: "), head


def test_a_huge_query_region_is_refused_promptly(start_server, repo_root):
    """/sync bounds its region (a few dataset widths); /api/query must bound its own, or one request
    keeps a worker busy for minutes (past --timeout: the thread cannot be cancelled)."""
    server = start_server(repo_root, "--timeout", 3)
    try:
        response = httpx.get(f"{server.base}/api/query", params={"pos": f"CIRCLE {RA} {DEC} 60"}, timeout=15)
        assert response.status_code == 400, (response.status_code, response.text[:300])
    finally:
        os.killpg(server.process.pid, signal.SIGKILL)  # its worker may still be busy: do not wait for it


# -- 7. bearer tokens -------------------------------------------------------------------------------------

TOKEN_A, TOKEN_B = "tok-A-0123456789abcdef", "tok-B-fedcba9876543210"


def test_token_file(start_server, repo_root, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# service tokens\n{TOKEN_A}\n\n{TOKEN_B}\n")
    server = start_server(repo_root, "--token-file", tokens)
    with httpx.Client(timeout=30) as c:
        for path in ("/capabilities", "/availability"):
            assert c.get(f"{server.base}{path}").status_code == 200
        for headers, status in (({}, 401), ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
                                ({"Authorization": TOKEN_A}, 401), ({"Authorization": f"Basic {TOKEN_A}"}, 401),
                                ({"Authorization": f"Bearer {TOKEN_A}x"}, 401),
                                ({"Authorization": f"Bearer {TOKEN_A}"}, 200),
                                ({"Authorization": f"bearer {TOKEN_B}"}, 200)):
            response = c.get(f"{server.base}/sync", params={"ID": DATA_ID, "CIRCLE": CIRCLE}, headers=headers)
            assert response.status_code == status, (headers, response.text[:200])
            if status == 401:
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert error_line(response.text, "AuthenticationError"), response.text
        api = c.get(f"{server.base}/api/query", params={"pos": f"{RA} {DEC}"})
        assert api.status_code == 401 and api.json()["error"] == "AuthenticationError"
    assert TOKEN_A not in server.stderr and TOKEN_B not in server.stderr


def test_tokens_from_the_environment(start_server, repo_root):
    server = start_server(repo_root, env={"CUTOUT_SERVE_TOKENS": f"{TOKEN_A}, {TOKEN_B}"})
    with httpx.Client(timeout=30) as c:
        params = {"ID": DATA_ID, "CIRCLE": CIRCLE}
        assert c.get(f"{server.base}/sync", params=params).status_code == 401
        for token in (TOKEN_A, TOKEN_B):
            assert c.get(f"{server.base}/sync", params=params,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.get(f"{server.base}/capabilities").status_code == 200


def assert_one_line_exit(done, code: int):
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_short_token_is_refused_at_start(repo_root, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN_A}\nshort\n")
    done = run_cli("--repo", repo_root, "serve", "--port", "0", "--token-file", tokens)
    assert_one_line_exit(done, 2)
    assert "short" not in done.stderr.replace("shorter", "")  # the token itself is not shown


# -- 8. stopping, port in use, bad repository ------------------------------------------------------------

def refused(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_request_in_flight_then_exits_0(start_server, repo_root):
    server = start_server(repo_root)
    with ThreadPoolExecutor(1) as pool:
        flight = pool.submit(whole_patch, server.base)
        assert wait_until(lambda: b"1 cutouts running" in httpx.get(f"{server.base}/availability").content
                          or flight.done(), 20, 0.01)
        assert not flight.done(), "the whole-patch cutout finished before SIGTERM could be sent"
        server.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: refused(server.port), 5), "still accepting connections after SIGTERM"
        status, headers, received, head = flight.result(timeout=30)
    assert status == 200 and head.startswith(b"SIMPLE")
    assert received == int(headers["content-length"]) >= WHOLE_PATCH_BYTES_MIN
    assert server.process.wait(10) == 0, server.describe()
    assert "Traceback" not in server.stderr, server.stderr


def test_port_in_use_exits_2_with_one_line(repo_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run_cli("--repo", repo_root, "serve", "--host", "127.0.0.1", "--port", taken.getsockname()[1])
    assert_one_line_exit(done, 2)
    assert "cannot listen" in done.stderr


@pytest.mark.parametrize("make", ["missing", "empty", "bad-json"])
def test_bad_repo_exits_non_zero_with_one_line(tmp_path, make):
    root = tmp_path / "repo"
    if make != "missing":
        root.mkdir()
    if make == "bad-json":
        (root / "repo.json").write_text("{")
    done = run_cli("--repo", root, "serve", "--port", "0")
    assert done.returncode not in (0, None)
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_sigterm_exits_promptly_when_no_request_is_in_flight(start_server, repo_root):
    """After a query past --timeout was answered 503, nothing is in flight: SIGTERM must exit 0 at once
    (the worker thread still busy with the abandoned query must not hold the process)."""
    server = start_server(repo_root, "--timeout", 2)
    try:
        response = httpx.get(f"{server.base}/api/query", params={"pos": f"CIRCLE {RA} {DEC} 60"}, timeout=15)
        assert response.status_code in (400, 503), response.text
        server.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: server.process.poll() is not None, 5), "no exit 5 s after SIGTERM, nothing in flight"
        assert server.process.returncode == 0
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
