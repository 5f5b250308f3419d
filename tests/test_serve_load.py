"""``cutout serve`` under a short, bounded load: answers, admission, memory, a clean stop (no timing).

The service runs as a real process on 127.0.0.1 (``--port 0``) over the suite's
full-size patch (the ``sample_patch33`` fixture: tract 5063 patch 33, bands r and
z, the demo targets whose home patch it is).  The load is 32 concurrent
``httpx.AsyncClient`` sessions of one keep-alive connection each sharing a fixed
number of SODA ``CIRCLE`` requests (~50 px, band r); it stops when they are spent.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
import signal
import subprocess
import sys
import threading
from collections import Counter, deque
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("aiohttp")

CLIENTS = 32
RADIUS_DEG = 0.0014  # 5 arcsec: ~50 px at 0.2 arcsec/px
RSS_GROWTH_LIMIT_MIB = 150


def children(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as handle:
                if entry.isdigit() and int(handle.read().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Server:
    """``cutout serve`` as a child process: its base URL once it announced it, its RSS, its stop."""

    def __init__(self, root, *extra):
        argv = [sys.executable, "-m", "cutout_cli", "--repo", str(root), "serve", "--host", "127.0.0.1", "--port", "0",
                "--no-access-log", *extra]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: deque[str] = deque(maxlen=100)
        announced = threading.Event()
        threading.Thread(target=self._drain, args=(announced,), daemon=True).start()
        if not announced.wait(60) or self.proc.poll() is not None:
            self.proc.kill()
            pytest.fail(f"cutout serve did not start: {list(self.lines)}")
        line = next(text for text in self.lines if "SODA sync at http://" in text)
        self.base = line.split("SODA sync at ", 1)[1].split("/sync", 1)[0]

    def _drain(self, announced) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if "SODA sync at http://" in line:
                announced.set()
        announced.set()

    def rss_mib(self) -> float:
        """``VmRSS`` of ``/proc/PID/status`` of the server and its worker processes (its children), MiB."""
        total = 0.0
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            try:
                with open(f"/proc/{pid}/status") as handle:
                    total += next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) / 1024.0
            except (OSError, StopIteration):
                continue
        return total

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed after 20 s: the test fails)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"cutout serve did not stop within 20 s of SIGTERM: {list(self.lines)}")


@pytest.fixture(scope="module")
def positions(sample_patch33):
    """``(ra, dec)`` of the demo targets in the full-size patch."""
    with open(Path(sample_patch33.root) / "targets.csv", newline="") as handle:
        rows = [(float(r["ra"]), float(r["dec"])) for r in csv.DictReader(handle)]
    assert rows
    return rows


def sync_urls(base: str, positions) -> list[str]:
    """A ``/sync`` URL per target, its ID the home patch the service's ``/api/query`` names."""
    urls = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for ra, dec in positions:
            records = client.get("/api/query", params={"ra": ra, "dec": dec, "band": "r"}).raise_for_status().json()
            [home] = [r["id"] for r in records if r["home"]]
            urls.append(f"{base}/sync?ID={home}&CIRCLE={ra}+{dec}+{RADIUS_DEG}")
    return urls


async def _load(urls, total: int, clients: int = CLIENTS) -> list[tuple[object, bool, bool]]:
    """``total`` GETs of ``urls`` (cycled) from ``clients`` sessions of one connection each:
    ``(status or exception name, has Retry-After, body is FITS)`` per request."""
    answers, order = [], itertools.count()

    async def client():
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=60) as session:
            while (i := next(order)) < total:
                try:
                    response = await session.get(urls[i % len(urls)])
                except httpx.HTTPError as err:
                    answers.append((type(err).__name__, False, False))
                    continue
                answers.append((response.status_code, "retry-after" in response.headers,
                                response.content[:6] == b"SIMPLE"))

    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), 120)
    return answers


def load(urls, total: int):
    return asyncio.run(_load(urls, total))


def test_within_its_limits_every_request_is_served_and_memory_stays_flat(sample_patch33, positions):
    """Default limits (queue 64 >= 32 clients): 50 warm-up requests, then 200 more; every answer is a
    200 FITS cutout, RSS grows by at most 150 MiB over the 200, SIGTERM exits 0."""
    server = Server(sample_patch33.root)
    try:
        urls = sync_urls(server.base, positions)
        warm = load(urls, 50)
        warm_rss = server.rss_mib()
        answers = load(urls, 200)
        after_rss = server.rss_mib()
    finally:
        code = server.stop()
    assert Counter(a[0] for a in warm) == {200: 50}
    assert Counter(a[0] for a in answers) == {200: 200}, list(server.lines)[-5:]
    assert all(a[2] for a in answers), "a 200 answer is not a FITS file"
    assert after_rss - warm_rss <= RSS_GROWTH_LIMIT_MIB, (warm_rss, after_rss)
    assert code == 0, list(server.lines)


def test_past_its_limits_the_rest_get_503_with_retry_after(sample_patch33, positions):
    """``--concurrency 1 --queue 2`` under 32 clients, 200 requests: only 200 and 503 answers, at least one
    503, each with Retry-After; the 200s are FITS; SIGTERM exits 0."""
    server = Server(sample_patch33.root, "--concurrency", "1", "--queue", "2")
    try:
        urls = sync_urls(server.base, positions)
        answers = load(urls, 200)
    finally:
        code = server.stop()
    statuses = Counter(a[0] for a in answers)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] >= 1 and statuses[200] >= 1, statuses
    assert all(a[1] for a in answers if a[0] == 503), "a 503 answer has no Retry-After"
    assert all(a[2] for a in answers if a[0] == 200), "a 200 answer is not a FITS file"
    assert sum(statuses.values()) == 200
    assert code == 0, list(server.lines)
