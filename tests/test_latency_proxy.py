"""The latency proxy of the remote tests and benchmarks (tests/latency_proxy.py) against real servers.

Its delays are lower bounds by construction, so only "at least" is asserted of times; what it counts
(requests, requests in flight, bytes) is exact and checked against the servers' own counts.
"""

from __future__ import annotations

import http.client
import http.server
import os
import threading
import time
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import TARGET_11
from .latency_proxy import MBIT, LatencyProxy, _Messages
from .remote_servers import nginx_serving


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """nginx serving a folder holding ``blob`` (2 MB of random bytes): ``(root, server)``."""
    with nginx_serving(tmp_path_factory, "latency") as (root, server):
        (root / "blob").write_bytes(np.random.default_rng(5).bytes(2_000_000))
        yield root, server


def get(connection: http.client.HTTPConnection, path: str, headers=None) -> tuple[int, bytes]:
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def test_bytes_pass_unchanged_and_are_counted(served):
    """Whole files and ranges arrive as nginx sends them; the proxy counts nginx's requests and bytes."""
    root, server = served
    mark = server.mark()
    with LatencyProxy(server.port) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        assert get(connection, "/blob") == (200, (root / "blob").read_bytes())
        status, part = get(connection, "/blob", {"Range": "bytes=1000-1999"})
        assert (status, part) == (206, (root / "blob").read_bytes()[1000:2000])
        connection.close()
        traffic = proxy.traffic
    logged = server.settled()[mark:]
    assert traffic.requests == len(logged) == 2 and traffic.connections == 1
    assert traffic.max_in_flight == 1 and traffic.in_flight == 0
    assert traffic.paths == ["GET /blob", "GET /blob"]
    assert traffic.bytes_to_client > sum(r.bytes_sent for r in logged)  # bodies and their heads


def test_round_trips_cost_at_least_their_delay(served):
    """A new connection costs two round trips before its answer (handshake, request), a reused one one."""
    _, server = served
    rtt = 0.1
    with LatencyProxy(server.port, rtt=rtt) as proxy:
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
        started = time.monotonic()
        get(connection, "/blob", {"Range": "bytes=0-99"})
        first = time.monotonic() - started
        started = time.monotonic()
        get(connection, "/blob", {"Range": "bytes=100-199"})
        second = time.monotonic() - started
        connection.close()
    assert first >= 2 * rtt and second >= rtt


def test_bandwidth_is_capped_and_shared(served):
    """2 MB at 16 Mbit/s take at least a second; two connections share the cap (at least two seconds)."""
    root, server = served
    size = (root / "blob").stat().st_size
    with LatencyProxy(server.port, bandwidth=16 * MBIT) as proxy:
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
        assert len(get(connection, "/blob")[1]) == size
        alone = time.monotonic() - started
        threads = [threading.Thread(target=lambda: get(http.client.HTTPConnection("127.0.0.1", proxy.port,
                                                                                   timeout=60), "/blob"))
                   for _ in range(2)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        together = time.monotonic() - started
    assert alone >= size / (16 * MBIT) and together >= 2 * size / (16 * MBIT)


class _HeldServer(http.server.ThreadingHTTPServer):
    """Answers no request until ``hold`` requests are being served at once (a barrier): so the most
    requests in flight is known exactly."""

    daemon_threads = True

    def __init__(self, hold: int):
        self.barrier = threading.Barrier(hold, timeout=30)
        super().__init__(("127.0.0.1", 0), _HeldHandler)


class _HeldHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.barrier.wait()
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("clients", [1, 3, 8])
def test_requests_in_flight_are_counted_at_the_server(clients):
    """``clients`` requests held together by the server: the proxy sees exactly that many in flight."""
    upstream = _HeldServer(clients)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    answers = deque()
    try:
        with LatencyProxy(upstream.server_address[1], rtt=0.02) as proxy:
            def client(k):
                connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
                answers.append(get(connection, f"/{k}"))
                connection.close()

            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            traffic = proxy.traffic
    finally:
        upstream.shutdown()
    assert sorted(answers) == sorted((200, f"/{k}".encode()) for k in range(clients))
    assert traffic.max_in_flight == clients and traffic.requests == clients and traffic.in_flight == 0


def test_faults_drop_and_stall(served):
    """``drop`` closes the connection on the request (the client sees it closed, nginx never sees the
    request); ``stall`` never answers (the client's timeout fires); the next request is served."""
    _, server = served
    with LatencyProxy(server.port) as proxy:
        mark = server.mark()
        proxy.fail_next(1, "drop")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            get(http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10), "/blob")
        proxy.fail_next(1, "stall")
        with pytest.raises(TimeoutError):
            get(http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=0.5), "/blob")
        assert get(http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10), "/blob")[0] == 200
        assert (proxy.traffic.dropped, proxy.traffic.stalled) == (1, 1)
    assert len(server.settled()[mark:]) == 1


def test_a_remote_cutout_through_the_proxy(served, small_repo):
    """cutout's own HTTP reads through the proxy give the local pixels; the proxy counts each of them
    as nginx does."""
    from cutout_cli import open_repository

    root, server = served
    if not (root / "repo").exists():
        os.symlink(small_repo.root, root / "repo")
    local = small_repo.cutout(*TARGET_11, size=40, band="r")
    with LatencyProxy(server.port, rtt=0.01) as proxy:
        mark = server.mark()
        remote = open_repository(f"{proxy.url}/repo").cutout(*TARGET_11, size=40, band="r")
        counted = proxy.traffic.requests
    assert np.array_equal(remote.image, local.image, equal_nan=True)
    assert counted == len(server.settled()[mark:]) > 0


@settings(max_examples=60, deadline=None)
@given(bodies=st.lists(st.tuples(st.sampled_from(["GET", "HEAD"]), st.binary(max_size=300), st.booleans(),
                                 st.sampled_from([200, 206, 204, 304])), min_size=1, max_size=6),
       cuts=st.lists(st.integers(1, 50), max_size=30))
def test_message_boundaries_in_any_pieces(bodies, cuts):
    """However the bytes of a keep-alive exchange are cut into pieces, every request and every response
    (Content-Length, chunked, HEAD, 204/304) is found exactly once, in order."""
    requests, responses = b"", b""
    for k, (method, body, chunked, status) in enumerate(bodies):
        requests += f"{method} /{k} HTTP/1.1\r\nHost: h\r\n\r\n".encode()
        empty = method == "HEAD" or status in (204, 304)
        if chunked and not empty:
            chunks = b"".join(f"{len(body[i:i + 7]):x}\r\n".encode() + body[i:i + 7] + b"\r\n"
                              for i in range(0, len(body), 7))
            responses += f"HTTP/1.1 {status} X{k}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks + b"0\r\n\r\n"
        else:
            length = len(body)
            responses += f"HTTP/1.1 {status} X{k}\r\nContent-Length: {length}\r\n\r\n".encode()
            responses += b"" if empty else body
    methods = deque()
    found_requests = _Messages(False, methods).feed(requests)
    parser, found = _Messages(True, methods), []
    position = 0
    for cut in cuts + [len(responses)]:
        found += parser.feed(responses[position:position + cut])
        position += cut
    found += parser.feed(responses[position:])
    assert len(found_requests) == len(bodies)
    assert [head.split(b"\r\n", 1)[0].rsplit(b" ", 1)[1] for head in found] == [f"X{k}".encode()
                                                                                 for k in range(len(bodies))]


def test_the_tiles_of_a_box_are_asked_for_together(served, sample_patch33):
    """A box over two tiles far apart in the file (demo target 11's 50 px box in the full-size patch:
    one tile above the other) costs one round trip for its tiles: both requests are sent before the
    answer to either has arrived (the proxy's round trip is long enough to tell)."""
    from cutout_cli import open_repository

    root, server = served
    if not (root / "full").exists():
        os.symlink(sample_patch33.root, root / "full")
    local = sample_patch33.cutout(*TARGET_11, size=50, band="r", planes=("IMAGE",))
    with LatencyProxy(server.port, rtt=0.3) as proxy:
        repo = open_repository(f"{proxy.url}/full")
        remote = repo.cutout(*TARGET_11, size=50, band="r", planes=("IMAGE",))
        traffic = proxy.traffic
    assert np.array_equal(remote.image, local.image, equal_nan=True)
    assert traffic.max_outstanding == 2 and traffic.outstanding == 0
