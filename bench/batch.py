"""Benchmark (c): batch throughput on the 8-patch repository, 50 px cutouts, 3 planes, FITS written.

Every contender runs as its own process on the same target list, into an
empty output directory that is deleted afterwards (10 000 cutouts are
~0.5 GB):

* ``cutout batch`` (``--jobs 1`` and ``--jobs 2`` when the option exists,
  otherwise the default, serial);
* the floor, :mod:`bench.scripts.floor_batch`: fitsio section reads of the 3
  planes and a 3-HDU fitsio write per target, in one process;
* astrocut, :mod:`bench.scripts.astrocut_batch`: ``fits_cut`` per target on
  its home file, IMAGE plane only (its best case), on a subset of the targets,
  the rate extrapolated.

Rates are cutouts per second of wall time, process start included.  Peak
memory is the child's ``ru_maxrss``.  Every run records how many cores other
work kept busy meanwhile (:mod:`bench.load`); the quietest run of each
contender is kept beside the median, since a 2-core speed-up cannot show
while someone else holds a core.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess

from . import config
from .children import run_child
from .load import LoadMeter
from .data import batch_root, make_targets, warm_page_cache

SCRIPTS = config.ROOT / "bench" / "scripts"


def cutout_has_jobs() -> bool:
    """True when ``cutout batch`` accepts ``--jobs`` (the option is being added concurrently)."""
    out = subprocess.run([config.CUTOUT, "batch", "--help"], capture_output=True, text=True).stdout
    return "--jobs" in out


def _cutout_argv(targets_csv, out_dir, jobs=None):
    argv = [config.CUTOUT, "-q", "--repo", batch_root(), "batch", targets_csv, "--size", str(config.BATCH_SIZE),
            "--band", config.BATCH_BAND, "--out", out_dir]
    return argv + (["--jobs", str(jobs)] if jobs else [])


def _count_ok(out_dir) -> int:
    manifest = out_dir / "manifest.csv"
    if not manifest.exists():
        return 0
    with open(manifest) as handle:
        return sum(1 for line in handle if ",ok," in line)


def _timed(name, argv, out_dir, expected, counter, log) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    os.sync()  # write back the previous run's ~0.5 GB now, not during this run
    with LoadMeter() as load:
        run = run_child(argv, cwd=config.ROOT)
    done = counter(run, out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    ok = run.returncode == 0 and done == expected
    log(f"  {name}: {expected} targets in {run.wall:.1f} s ({expected / run.wall:.0f}/s), "
        f"peak RSS {run.max_rss_mib:.0f} MiB, others' load {load.other_cores or 0:.2f} cores"
        + ("" if ok else f"  FAILED rc={run.returncode} done={done}: "
                                                  f"{run.stderr.strip()[-300:]}"))
    return {"wall": run.wall, "targets": expected, "rate": expected / run.wall, "max_rss_mib": run.max_rss_mib,
            "ok": ok, "other_cores": load.other_cores}


def _summarise(runs: list[dict]) -> dict:
    walls = [r["wall"] for r in runs]
    wall = statistics.median(walls)
    loads = [r["other_cores"] for r in runs if r.get("other_cores") is not None]
    quiet = min(runs, key=lambda r: (r.get("other_cores") is None, r.get("other_cores") or 0.0))
    return {"wall": wall, "walls": walls, "targets": runs[0]["targets"], "rate": runs[0]["targets"] / wall,
            "max_rss_mib": max(r["max_rss_mib"] for r in runs), "ok": all(r["ok"] for r in runs),
            "other_cores": max(loads) if loads else None,
            "runs": [{k: r.get(k) for k in ("wall", "rate", "other_cores")} for r in runs],
            "quiet_rate": quiet["rate"], "quiet_other_cores": quiet.get("other_cores")}


def run(log=print) -> dict:
    """Throughput of every contender and the peak memory of ``cutout batch`` at two target counts."""
    targets = make_targets(config.BATCH_TARGETS)
    warm_page_cache(*sorted((batch_root() / "deep_coadd").rglob("*.fits")))
    out_root, out_where = config.batch_output_dir()
    log(f"  batch outputs: {out_root} ({out_where})")
    out = out_root / "batch"
    has_jobs = cutout_has_jobs()
    from_manifest = lambda run, out_dir: _count_ok(out_dir)  # noqa: E731
    from_stdout = lambda run, out_dir: int((run.stdout.strip().splitlines() or ["0"])[-1])  # noqa: E731
    contenders = []
    if has_jobs:
        contenders += [("cutout --jobs 1", _cutout_argv(targets.csv, out, 1)),
                       ("cutout --jobs 2", _cutout_argv(targets.csv, out, 2))]
    else:
        contenders += [("cutout (default, serial)", _cutout_argv(targets.csv, out))]
    results = {"targets": targets.count, "has_jobs": has_jobs, "contenders": {}, "outputs": out_where}
    try:
        for name, argv in contenders:
            runs = [_timed(name, argv, out, targets.count, from_manifest, log) for _ in range(config.BATCH_REPS)]
            results["contenders"][name] = {**_summarise(runs), "kind": "cutout"}
        floor_argv = [config.PYTHON, SCRIPTS / "floor_batch.py", targets.plan, out, config.BATCH_SIZE]
        runs = [_timed("fitsio floor", floor_argv, out, targets.count, from_stdout, log) for _ in range(config.BATCH_REPS)]
        results["contenders"]["fitsio floor"] = {**_summarise(runs), "kind": "floor"}
        n_astro = min(config.ASTROCUT_TARGETS, targets.count)
        astro_argv = [config.PYTHON, SCRIPTS / "astrocut_batch.py", targets.plan, out, config.BATCH_SIZE, n_astro]
        run_ = _timed("astrocut", astro_argv, out, n_astro, from_stdout, log)
        results["contenders"]["astrocut (IMAGE only)"] = {**_summarise([run_]), "kind": "astrocut",
                                                           "extrapolated_from": n_astro}
        results["memory"] = _memory(has_jobs, targets, results["contenders"], out, from_manifest, log)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if out_root.name.startswith("cutout-bench-"):
            shutil.rmtree(out_root, ignore_errors=True)
    return results


def _memory(has_jobs, main_targets, measured, out, counter, log) -> dict:
    """Peak RSS of ``cutout batch`` for small and large target lists (throughput runs reused)."""
    memory = {}
    for count, jobs in (config.MEMORY_RUNS_JOBS if has_jobs else config.MEMORY_RUNS):
        label = f"{count} targets" + (f", --jobs {jobs}" if jobs else "")
        name = f"cutout --jobs {jobs}" if jobs else "cutout (default, serial)"
        if count == main_targets.count and name in measured:
            memory[label] = {k: measured[name].get(k) for k in ("wall", "targets", "rate", "max_rss_mib", "ok",
                                                                 "other_cores")}
            continue
        targets = make_targets(count)
        memory[label] = _timed(f"cutout memory, {label}", _cutout_argv(targets.csv, out, jobs), out, count,
                               counter, log)
    return memory
