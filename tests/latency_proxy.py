"""A TCP proxy on 127.0.0.1 that puts a wide-area network between a client and a local server.

The remote tests and benchmarks talk to nginx and the S3 server on 127.0.0.1, where a round trip
costs microseconds.  Put a :class:`LatencyProxy` in front of either (its :attr:`~LatencyProxy.url`
instead of the server's) and every byte crosses a link with

* a one-way delay of ``rtt / 2`` in each direction, so a request and its answer cost one round
  trip, and a new connection one more (the TCP handshake: its first bytes reach the server after
  1.5 round trips; TLS is not modelled);
* a bandwidth cap (bytes per second) per direction, shared by every connection, as a site's uplink
  is: a chunk waits until the link has sent the chunks before it, then takes ``size / bandwidth``;
* faults on demand: :meth:`~LatencyProxy.fail_next` drops (closes the connection on) or stalls
  (swallows, never answers) the next requests.

It counts what it carries (:class:`Traffic`): requests, the most requests in flight at the server at
once (a request is in flight from the moment its head reaches the server to the moment the last
byte of its answer leaves it), the most requests outstanding at the client at once (sent, and not
yet wholly answered: above 1 only for requests made concurrently), bytes each way and connections.  It reads HTTP/1.1 only far enough
to find where messages end (heads, ``Content-Length`` and chunked bodies); everything else is
passed on as it is.

The delays are added by the proxy's own clock (asyncio in a thread of the test process); the
kernel has no netem here.  Timings through it are lower bounds by construction: a test may assert
that something took at least so long, never at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = ["LatencyProxy", "Traffic", "MBIT"]

#: One megabit per second, in bytes per second (``bandwidth=100 * MBIT``).
MBIT = 1_000_000 / 8
READ_SIZE = 64 * 1024
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.I | re.M)


@dataclass
class Traffic:
    """What the proxy carried since it started (or since :meth:`LatencyProxy.reset`)."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    #: requests the client has sent and not yet had the whole answer to, and the most of them at once:
    #: above 1 only when the client sends a request before the answer to another has reached it
    outstanding: int = 0
    max_outstanding: int = 0
    bytes_to_server: int = 0
    bytes_to_client: int = 0
    connections: int = 0
    dropped: int = 0
    stalled: int = 0
    #: the methods and paths of the requests, in the order their heads reached the server
    paths: list = field(default_factory=list)


class _Link:
    """One direction of the network: a chunk is delivered ``delay`` seconds after the link has sent
    it, and the link sends ``bandwidth`` bytes a second (``None``: no cap), one chunk after another."""

    def __init__(self):
        self.delay = 0.0
        self.bandwidth: float | None = None
        self._free_at = 0.0

    def delivery_time(self, size: int, now: float) -> float:
        start = max(now, self._free_at)
        self._free_at = start + (size / self.bandwidth if self.bandwidth else 0.0)
        return self._free_at + self.delay


class _Messages:
    """Where HTTP/1.1 messages end in one direction of one connection.

    :meth:`feed` takes the bytes in order and returns the heads of the requests it completes (a
    request counts once its head is complete) or of the responses it completes (head and body).  A
    body's length comes from ``Content-Length`` or its chunks; an answer to HEAD, 1xx, 204 and 304
    have none (the request methods come from ``methods``, filled by the requests' side).
    """

    def __init__(self, responses: bool, methods: deque):
        self.responses = responses
        self.methods = methods
        self._buffer = b""
        self._state = "head"  # head, body (self._left bytes), size (a chunk's size line), trailer
        self._left = 0
        self._chunked = False
        self._head = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        done: list[bytes] = []
        while self._buffer and self._step(done):
            pass
        return done

    def _step(self, done: list) -> bool:
        """Consume what the state allows from the buffer; False when more bytes are needed."""
        if self._state == "body":
            taken = min(self._left, len(self._buffer))
            self._left -= taken
            self._buffer = self._buffer[taken:]
            if not self._left:
                self._state = "size" if self._chunked else "head"
                if not self._chunked:
                    self._finish(done)
            return bool(taken)
        line_end = self._buffer.find(b"\r\n\r\n" if self._state == "head" else b"\r\n")
        if line_end < 0:
            return False
        line, self._buffer = self._buffer[:line_end], self._buffer[line_end + (4 if self._state == "head" else 2):]
        if self._state == "head":
            self._start(line + b"\r\n\r\n", done)
        elif self._state == "size":
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            self._state, self._left = ("body", size + 2) if size else ("trailer", 0)
        elif not line:  # the empty line after the last chunk's trailers
            self._state = "head"
            self._finish(done)
        return True

    def _start(self, head: bytes, done: list) -> None:
        self._head = head
        if not self.responses:
            self.methods.append(head.split(b" ", 1)[0])
            done.append(head)
        self._chunked = bool(_CHUNKED.search(head))
        has_body = self._has_body(head) if self.responses else True
        length = _CONTENT_LENGTH.search(head)
        self._left = int(length[1]) if length and has_body else 0
        if has_body and self._chunked:
            self._state = "size"
        elif self._left:
            self._state = "body"
        elif self.responses:
            done.append(head)

    def _finish(self, done: list) -> None:
        if self.responses:
            done.append(self._head)

    def _has_body(self, head: bytes) -> bool:
        method = self.methods.popleft() if self.methods else b"GET"
        status = (head.split(b" ", 2) + [b"200"])[1]
        return method != b"HEAD" and not status.startswith(b"1") and status not in (b"204", b"304")


class LatencyProxy:
    """A proxy on a free port of 127.0.0.1 forwarding to ``upstream_port`` there, with ``rtt`` seconds
    of round trip and ``bandwidth`` bytes a second each way (``None``: unlimited).  Use it as a context
    manager; :meth:`configure` changes the network while it runs."""

    def __init__(self, upstream_port: int, *, rtt: float = 0.0, bandwidth: float | None = None):
        self.upstream_port = upstream_port
        self.up, self.down = _Link(), _Link()
        self.configure(rtt=rtt, bandwidth=bandwidth)
        self.traffic = Traffic()
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)
        self._stalled: list[asyncio.StreamWriter] = []
        self._pumps: set[asyncio.Task] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def configure(self, *, rtt: float, bandwidth: float | None = None) -> None:
        """Set the round trip (seconds) and the bandwidth (bytes a second each way, ``None``: unlimited)."""
        self.rtt = rtt
        for link in (self.up, self.down):
            link.delay, link.bandwidth = rtt / 2, bandwidth

    def reset(self) -> Traffic:
        """Start counting afresh; returns what was counted so far."""
        with self._lock:
            counted = self.traffic
            self.traffic = Traffic(in_flight=counted.in_flight, outstanding=counted.outstanding)
        return counted

    def fail_next(self, count: int = 1, mode: str = "drop") -> None:
        """Make the next ``count`` requests fail: ``drop`` closes their connection when their head
        arrives; ``stall`` swallows them and never answers (the connection stays open)."""
        if mode not in ("drop", "stall"):
            raise ValueError(f"unknown fault {mode!r}")
        with self._lock:
            self._faults.extend([mode] * count)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            for writer in self._stalled:
                writer.close()
            # the pumps, not the connections' own tasks: cancelling those makes asyncio log errors
            for task in self._pumps:
                task.cancel()
            for _ in range(10):  # let each connection close its sockets
                await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- the connections -------------------------------------------------------------------

    async def _serve(self, client_reader, client_writer) -> None:
        accepted = time.monotonic()
        with self._lock:
            self.traffic.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        methods: deque = deque()
        pumps = [self._pump_requests(client_reader, server_writer, client_writer, methods, accepted + self.rtt),
                 self._pump_responses(server_reader, client_writer, methods)]
        tasks = [asyncio.ensure_future(pump) for pump in pumps]
        self._pumps.update(tasks)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
            self._pumps.discard(task)
        for writer in (server_writer, client_writer):
            with contextlib.suppress(Exception):
                writer.close()

    async def _pump_requests(self, source, server_writer, client_writer, methods: deque, handshake_done: float):
        """Client to server: after the handshake's round trip, each chunk delayed by the up link."""
        messages = _Messages(responses=False, methods=methods)
        while data := await source.read(READ_SIZE):
            when = self.up.delivery_time(len(data), max(time.monotonic(), handshake_done))
            heads = messages.feed(data)
            with self._lock:
                self.traffic.outstanding += len(heads)
                self.traffic.max_outstanding = max(self.traffic.max_outstanding, self.traffic.outstanding)
            await _sleep_until(when)
            fault = self._take_fault() if heads else None
            if fault == "drop":
                with self._lock:
                    self.traffic.dropped += 1
                    self.traffic.outstanding -= len(heads)
                return
            if fault == "stall":
                with self._lock:
                    self.traffic.stalled += 1
                self._stalled.append(client_writer)
                await asyncio.Event().wait()  # until the proxy stops
            server_writer.write(data)
            await server_writer.drain()
            self._count(heads, sent=len(data))

    async def _pump_responses(self, source, client_writer, methods: deque):
        """Server to client: each chunk delayed by the down link; a response ends its request's flight
        when its last byte leaves the server."""
        messages = _Messages(responses=True, methods=methods)
        while data := await source.read(READ_SIZE):
            finished = len(messages.feed(data))
            with self._lock:
                self.traffic.in_flight -= finished
                self.traffic.bytes_to_client += len(data)
            await _sleep_until(self.down.delivery_time(len(data), time.monotonic()))
            client_writer.write(data)
            await client_writer.drain()
            with self._lock:
                self.traffic.outstanding -= finished

    def _take_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _count(self, heads: list[bytes], sent: int) -> None:
        with self._lock:
            traffic = self.traffic
            traffic.bytes_to_server += sent
            traffic.requests += len(heads)
            traffic.paths += [" ".join(head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]) for head in heads]
            traffic.in_flight += len(heads)
            traffic.max_in_flight = max(traffic.max_in_flight, traffic.in_flight)


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
