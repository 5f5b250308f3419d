"""Benchmark (e): ``cutout serve`` under load, SODA ``CIRCLE`` cutouts of ~50 px on the sample repository.

The service runs as its own process (``python -m cutout_cli --repo sample_repo serve
--port 0 --no-access-log``); this process is the load: ``SERVE_CLIENTS`` concurrent
aiohttp clients, each with its own session holding one keep-alive connection, share a
fixed number of requests (``SERVE_REQUESTS``) and stop when it is spent (or at
``SERVE_DEADLINE``).  Requests cycle over the demo targets (``sample_repo/targets.csv``),
band r, radius ``SERVE_RADIUS_DEG``; the ID of each target's home patch is asked of the
service's own ``/api/query`` once, before any timing.

* Phase ``open``: default concurrency (the CPU count), ``--queue 64`` (>= the clients):
  sustained cutouts/s, p50/p99 latency, status counts (every answer should be 200) and
  the server's RSS (``VmRSS``) at start, after 25 % of the requests and at the end.
* Phase ``tight``: ``--concurrency 1 --queue 4`` with the same clients: status counts
  (only 200 and 503 expected), the 503 share, whether every 503 had ``Retry-After``, and
  p50/p99 of the 200s.  Clients go on to their next request at once after a 503 (they do
  not wait ``Retry-After``): the phase measures admission, not a polite client.
* Peer line: the same cutouts done in this process, one at a time, with the library
  (``Repository.region_cutout(...).fits_bytes()``), as cutouts/s.

The clients share the machine's cores with the server, so each phase also records the
CPU the server and the client used, and what other work kept busy (as :mod:`bench.load`).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
import signal
import subprocess
import threading
import time
from collections import Counter, deque

import numpy as np

from . import config
from .load import LoadMeter, _busy_seconds, _own_seconds

PHASES = {"open": ("--queue", "64"), "tight": ("--concurrency", "1", "--queue", "4")}
START_SECONDS = 60.0  # time the server has to announce its address
STOP_SECONDS = 20.0   # time it has to exit after SIGTERM


def available() -> str | None:
    """Why the section cannot run here, or None."""
    import importlib.util

    if importlib.util.find_spec("aiohttp") is None:
        return "aiohttp is not installed: pip install 'cutout-cli[serve]'"
    if not any((config.SAMPLE_REPO / "deep_coadd").rglob("*.fits")):
        return "the sample repository has no coadds (make sample)"
    return None


class Server:
    """One ``cutout serve`` process on 127.0.0.1, any free port; its stderr is drained by a thread."""

    def __init__(self, extra=()):
        argv = [config.PYTHON, "-m", "cutout_cli", "--repo", str(config.SAMPLE_REPO), "serve", "--host", "127.0.0.1",
                "--port", "0", "--no-access-log", *extra]
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=config.ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: deque[str] = deque(maxlen=200)
        self._announced = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._announced.wait(START_SECONDS) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"cutout serve did not start: {' | '.join(self.lines)[-500:]}")
        line = next(text for text in self.lines if "SODA sync at http://" in text)
        self.base = line.split("SODA sync at ", 1)[1].split("/sync", 1)[0]

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if "SODA sync at http://" in line:
                self._announced.set()
        self._announced.set()  # exited: the waiter learns it at once

    def _pids(self) -> list[int]:
        """The server and its worker processes (its children)."""
        pids = [self.proc.pid]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        if int(handle.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                            pids.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return pids

    def _summed(self, name: str, value) -> float | None:
        """``value(text)`` of ``/proc/PID/<name>`` summed over the server and its workers (None: none read)."""
        total = None
        for pid in self._pids():
            try:
                with open(f"/proc/{pid}/{name}") as handle:
                    found = value(handle.read())
            except (OSError, StopIteration):
                continue
            total = (total or 0.0) + found
        return total

    def rss_mib(self) -> float | None:
        """The resident memory of the server and its workers now (``VmRSS`` of ``/proc/PID/status``), MiB."""
        return self._summed("status", lambda text: next(int(line.split()[1]) for line in text.splitlines()
                                                         if line.startswith("VmRSS:")) / 1024.0)

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system: fields 14 and 15 of ``/proc/PID/stat``) of the server and its workers so far."""
        def ticks(text):
            fields = text.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        return self._summed("stat", ticks)

    def stop(self) -> int | None:
        """SIGTERM, then its exit code (None: it had to be killed after ``STOP_SECONDS``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def targets() -> list[tuple[float, float]]:
    """``(ra, dec)`` of the demo targets, in file order."""
    with open(config.SAMPLE_REPO / "targets.csv", newline="") as handle:
        return [(float(row["ra"]), float(row["dec"])) for row in csv.DictReader(handle)]


async def home_ids(base: str, positions) -> list[str]:
    """The SODA ``ID`` of each position's home patch in band r, from the service's ``/api/query``."""
    import aiohttp

    ids = []
    async with aiohttp.ClientSession() as session:
        for ra, dec in positions:
            async with session.get(f"{base}/api/query", params={"ra": str(ra), "dec": str(dec),
                                                                "band": config.SERVE_BAND}) as response:
                response.raise_for_status()
                records = await response.json()
            home = [r["id"] for r in records if r.get("home")]
            if len(home) != 1:
                raise RuntimeError(f"/api/query gives {len(home)} home datasets at {ra} {dec}: {records}")
            ids.append(home[0])
    return ids


def sync_urls(base: str, positions, ids) -> list[str]:
    """One ``/sync`` URL per target: its home ID and a ``CIRCLE`` of ``SERVE_RADIUS_DEG``."""
    radius = config.SERVE_RADIUS_DEG
    return [f"{base}/sync?ID={dataset}&CIRCLE={ra}+{dec}+{radius}" for (ra, dec), dataset in zip(positions, ids)]


async def drive(urls, total: int, clients: int, at_quarter=lambda: None, deadline: float = config.SERVE_DEADLINE):
    """``total`` GETs of ``urls`` (cycled) from ``clients`` concurrent sessions of one keep-alive connection each.

    Returns ``(answers, wall, quarter_time, connections)``: one ``(status, seconds, has_retry_after,
    is_fits, bytes)`` per request (status is an exception name when no answer came), the wall time of
    the whole load, the time at which a quarter of the answers were in (``at_quarter()`` is called
    then), and how many connections the clients opened.
    """
    import aiohttp

    answers, order, opened = [], itertools.count(), []
    quarter, begin = {}, time.perf_counter()
    stop_at = begin + deadline
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(lambda *_: _append(opened))

    async def client():
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[trace]) as session:
            while (i := next(order)) < total and time.perf_counter() < stop_at:
                answers.append(await _one(session, urls[i % len(urls)]))
                if len(answers) == max(1, total // 4) and not quarter:
                    quarter["t"] = time.perf_counter() - begin
                    at_quarter()

    await asyncio.gather(*(client() for _ in range(clients)))
    return answers, time.perf_counter() - begin, quarter.get("t"), len(opened)


async def _append(opened) -> None:
    opened.append(1)


async def _one(session, url):
    """One request: ``(status, seconds, has_retry_after, is_fits, bytes)``."""
    import aiohttp

    began = time.perf_counter()
    try:
        async with session.get(url) as response:
            body = await response.read()
            return (response.status, time.perf_counter() - began, "Retry-After" in response.headers,
                    body[:6] == b"SIMPLE", len(body))
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        return (type(err).__name__, time.perf_counter() - began, False, False, 0)


def _ms(seconds, q: float) -> float | None:
    return float(np.percentile(np.asarray(seconds) * 1e3, q)) if len(seconds) else None


def summarise(answers, wall: float, quarter_time: float | None) -> dict:
    """Status counts, rates and latency percentiles of one phase's answers."""
    statuses = Counter(str(a[0]) for a in answers)
    ok = [a for a in answers if a[0] == 200]
    busy = [a for a in answers if a[0] == 503]
    n, quarter_n = len(answers), max(1, len(answers) // 4)
    sustained = None
    if quarter_time is not None and wall > quarter_time:
        sustained = sum(1 for a in answers[quarter_n:] if a[0] == 200) / (wall - quarter_time)
    return {"requests": n, "wall": wall, "statuses": dict(statuses), "ok": len(ok),
            "rate": len(ok) / wall if wall else None, "sustained_rate": sustained,
            "p50_ms": _ms([a[1] for a in ok], 50), "p99_ms": _ms([a[1] for a in ok], 99),
            "max_ms": _ms([a[1] for a in ok], 100),
            "busy_share": len(busy) / n if n else None, "busy_p50_ms": _ms([a[1] for a in busy], 50),
            "busy_without_retry_after": sum(1 for a in busy if not a[2]),
            "ok_not_fits": sum(1 for a in ok if not a[3]),
            "mean_bytes": float(np.mean([a[4] for a in ok])) if ok else None}


def run_phase(name: str, positions, ids, log=print) -> dict:
    """One phase against a fresh server with ``PHASES[name]``'s options: the answers' summary, the server's
    RSS idle / after the warm-up request / after 25 % / at the end, the CPU it and the client used, and its
    exit code on SIGTERM."""
    server = Server(PHASES[name])
    try:
        urls = sync_urls(server.base, positions, ids)
        rss = {"idle": server.rss_mib()}
        warm_up = _warm_up(urls[0])
        rss["start"] = server.rss_mib()
        cpu0, own0, busy0 = server.cpu_seconds(), _own_seconds(), _busy_seconds()
        answers, wall, quarter, opened = asyncio.run(
            drive(urls, config.SERVE_REQUESTS, config.SERVE_CLIENTS,
                  at_quarter=lambda: rss.__setitem__("quarter", server.rss_mib())))
        rss["end"] = server.rss_mib()
        cpu1, own1, busy1 = server.cpu_seconds(), _own_seconds(), _busy_seconds()
    finally:
        exit_code = server.stop()
    result = {**summarise(answers, wall, quarter), "options": " ".join(PHASES[name]), "rss_mib": rss,
              "warm_up": warm_up, "connections": opened, "exit_code": exit_code,
              "deadline_hit": len(answers) < config.SERVE_REQUESTS}
    if None not in (cpu0, cpu1):
        result["server_cores"] = (cpu1 - cpu0) / wall
        result["client_cores"] = (own1 - own0) / wall
        if None not in (busy0, busy1):
            result["other_cores"] = max(0.0, ((busy1 - busy0) - (own1 - own0) - (cpu1 - cpu0)) / wall)
    log(f"  {name} ({result['options']}): {result['requests']} requests in {wall:.1f} s, statuses "
        f"{result['statuses']}, {result['rate'] or 0:.0f} cutouts/s, p50 {result['p50_ms'] or 0:.0f} ms, "
        f"p99 {result['p99_ms'] or 0:.0f} ms, RSS {_rss_text(rss)}, exit {exit_code}")
    return result


def _warm_up(url: str) -> dict:
    """One request before the timed load (the first cutout of a fresh server):
    its status and seconds."""
    import urllib.error
    import urllib.request

    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    return {"status": status, "seconds": time.perf_counter() - began}


def _rss_text(rss: dict) -> str:
    keys = ("idle", "start", "quarter", "end")
    return " / ".join("?" if rss.get(k) is None else f"{rss[k]:.0f}" for k in keys) + " MiB"


def library_serial(positions, count: int) -> dict:
    """The same cutouts in this process, one at a time: ``Repository.region_cutout(CIRCLE).fits_bytes()``
    over the targets (cycled) after one warm-up pass; cutouts/s and the mean FITS size."""
    from cutout_cli import Repository

    repo = Repository(str(config.SAMPLE_REPO))
    regions = [f"CIRCLE {ra} {dec} {config.SERVE_RADIUS_DEG}" for ra, dec in positions]
    for region in regions:
        repo.region_cutout(region, config.SERVE_BAND).fits_bytes()
    sizes = []
    with LoadMeter() as load:
        began = time.perf_counter()
        for i in range(count):
            sizes.append(len(repo.region_cutout(regions[i % len(regions)], config.SERVE_BAND).fits_bytes()))
        wall = time.perf_counter() - began
    return {"cutouts": count, "wall": wall, "rate": count / wall, "mean_bytes": float(np.mean(sizes)),
            "other_cores": load.other_cores}


def run(log=print) -> dict:
    """Both phases and the library's serial rate (see the module docstring)."""
    positions = targets()
    probe = Server(PHASES["open"])
    try:
        ids = asyncio.run(home_ids(probe.base, positions))
    finally:
        probe.stop()
    log(f"  {len(positions)} targets, home IDs from /api/query: {', '.join(sorted(set(ids)))}")
    results = {"requests": config.SERVE_REQUESTS, "clients": config.SERVE_CLIENTS,
               "radius_deg": config.SERVE_RADIUS_DEG, "band": config.SERVE_BAND, "targets": len(positions),
               "cpus": os.cpu_count(), "phases": {}}
    for name in PHASES:
        results["phases"][name] = run_phase(name, positions, ids, log)
    results["library"] = library_serial(positions, config.SERVE_LIBRARY_CUTOUTS)
    lib = results["library"]
    log(f"  library, serial in-process: {lib['cutouts']} cutouts in {lib['wall']:.1f} s ({lib['rate']:.0f}/s)")
    return results


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _num(value, spec: str = ".0f", unit: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def _phase_row(name: str, p: dict, library_rate: float | None) -> list[str]:
    rate = p.get("sustained_rate") or p.get("rate")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(p["statuses"].items()))
    return [f"{name} (`{p['options']}`)", f"{p['requests']}" + (" ⚠ deadline" if p.get("deadline_hit") else ""),
            f"{p['wall']:.1f} s", _num(p.get("rate")), _num(p.get("sustained_rate")),
            f"{rate / library_rate:.2f}×" if rate and library_rate else "n/a",
            _num(p.get("p50_ms")), _num(p.get("p99_ms")), statuses, _num(p.get("busy_share"), ".1%"),
            _rss_text(p["rss_mib"]), f"{p.get('connections', '?')}", _num(p.get("server_cores"), ".2f"),
            _num(p.get("other_cores"), ".2f"), "?" if p.get("exit_code") is None else str(p["exit_code"])]


def render(section: dict) -> list[str]:
    """Markdown lines of the section (its heading included)."""
    if not section:
        return []
    out = ["", "## (e) `cutout serve` under load: SODA CIRCLE cutouts, IMAGE + MASK + VARIANCE", ""]
    if section.get("skipped"):
        return out + [f"Skipped: {section['skipped']}."]
    lib = section.get("library") or {}
    out += [f"`cutout serve` on `sample_repo` ({section['cpus']} CPUs); {section['clients']} concurrent aiohttp "
            f"clients, one keep-alive connection each, share {section['requests']} GETs of "
            "`/sync?ID=<home patch>&CIRCLE=ra dec "
            f"{section['radius_deg']}` (~50 px, band {section['band']}) cycling over the {section['targets']} demo "
            "targets; IDs from the service's `/api/query`. A fresh server per phase. Client and server share the "
            "machine's cores. One untimed warm-up request per phase (\"start\" RSS is after it; its time, the first cutout "
            "of a fresh server: "
            + ", ".join(f"{n} {p['warm_up']['seconds'] * 1e3:.0f} ms" for n, p in section["phases"].items()
                        if p.get("warm_up")) + "). "
            "After a 503 a client sends its next request at once (no wait for Retry-After).", ""]
    out += _table(("phase", "requests", "wall", "200/s (all)", "200/s (sustained, last 75 %)", "sustained × library serial",
                   "p50 ms (200)", "p99 ms (200)", "statuses", "503 share", "RSS (server + workers) idle / start / 25 % / end",
                   "connections", "server cores", "others' cores", "exit on SIGTERM"),
                  [_phase_row(name, p, lib.get("rate")) for name, p in section["phases"].items()])
    if lib:
        out += ["", f"Peer: the library in-process, one cutout at a time (`Repository(\"sample_repo\").region_cutout("
                f"\"CIRCLE ra dec {section['radius_deg']}\", \"{section['band']}\").fits_bytes()`, targets cycled, one "
                f"warm-up pass): **{lib['rate']:.0f} cutouts/s** ({lib['cutouts']} in {lib['wall']:.1f} s, "
                f"{lib['mean_bytes'] / 1e3:.1f} kB each; others' load {_num(lib.get('other_cores'), '.2f')} cores)."]
    checks = []
    for name, p in section["phases"].items():
        if p.get("ok_not_fits"):
            checks.append(f"{name}: {p['ok_not_fits']} 200 answers were not FITS")
        if p.get("busy_without_retry_after"):
            checks.append(f"{name}: {p['busy_without_retry_after']} 503 answers had no Retry-After")
    out += ["", "Checks: " + ("; ".join(checks) if checks else "every 200 was a FITS file, every 503 had Retry-After.")]
    return out
