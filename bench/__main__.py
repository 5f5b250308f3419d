"""``python -m bench``: prepare the data, run the benchmarks, write and print the report.

Usage::

    python -m bench                      # everything (7-12 minutes on 2 cores)
    BENCH_QUICK=1 python -m bench        # smoke run (about 2 minutes)
    python -m bench --only reads,batch   # some sections (others kept from results.json)
    python -m bench --only lsst_images   # the lsst.images files section alone
    python -m bench --only serve         # `cutout serve` under load (about 1 min, 20 s quick)
    python -m bench --report             # re-render report.md from results.json
    BENCH_ALT_PYTHON=/other/venv/bin/python python -m bench --only reads
                                         # adds the fitsio floor of another build

Sections: ``reads`` (a), ``process`` (b), ``batch`` (c), ``lsst_images`` (d), ``serve`` (e).  Results are saved
to ``bench_output/results.json`` after each section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time

from . import config

SECTIONS = ("reads", "process", "batch", "lsst_images", "serve")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load() -> dict:
    if config.RESULTS.exists():
        try:
            return json.loads(config.RESULTS.read_text())
        except ValueError:
            return {}
    return {}


def _save(results: dict) -> None:
    config.OUTPUT.mkdir(parents=True, exist_ok=True)
    config.RESULTS.write_text(json.dumps(results, indent=1, default=str))


def _write_report(results: dict) -> str:
    from .report import render

    text = render(results)
    config.REPORT.write_text(text)
    return text


def _section(results: dict, name: str, heading: str, work, why_not: str | None = None) -> None:
    """Run one section (``work()``, unless ``why_not`` says it cannot run here), record its results and
    its duration, and save: an interrupted run keeps the sections done."""
    log(heading)
    began = time.perf_counter()
    if why_not:
        log(f"  skipped: {why_not}")
    results[name] = {"skipped": why_not} if why_not else work()
    results["meta"]["sections"][name] = time.perf_counter() - began
    _save(results)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    parser.add_argument("--report", action="store_true", help="only re-render the report from results.json")
    args = parser.parse_args(argv)
    if args.report:
        print(_write_report(_load()))
        return 0
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    from . import data, machine

    start = time.perf_counter()
    results = _load() if set(wanted) != set(SECTIONS) else {}
    if results.get("meta", {}).get("quick", config.QUICK) != config.QUICK:
        results = {}  # do not mix quick and full numbers
    results["meta"] = {"quick": config.QUICK, "started": dt.datetime.now().isoformat(timespec="seconds"),
                       "sections": results.get("meta", {}).get("sections", {})}
    results["machine"] = machine.describe()
    config.TMP.mkdir(parents=True, exist_ok=True)
    log(f"bench: {'quick' if config.QUICK else 'full'} run, sections {', '.join(wanted)}")
    log("preparing data (generated once into bench_output/data/) ...")
    files = data.prepare_variants(log) if {"reads", "process"} & set(wanted) else {}
    if "batch" in wanted:
        data.prepare_batch_repo(log)
    notes = []
    if "reads" in wanted:
        from . import reads

        _section(results, "reads", "(a) box reads ...", lambda: reads.run(files, log=log))
        alt = os.environ.get("BENCH_ALT_PYTHON")
        results["reads_alt_floor"] = reads.run_alternative_floor(files, alt, log) if alt else None
        _save(results)
    if "process" in wanted:
        from . import process

        if not shutil.which("hyperfine"):
            notes.append("hyperfine is not installed: whole-process times come from a subprocess loop "
                         "(apt-get install hyperfine).")
        if not shutil.which("imcopy"):
            notes.append("imcopy is not installed (apt-get install libcfitsio-bin): no cfitsio process baseline.")
        _section(results, "process", "(b) whole process ...", lambda: process.run(log=log))
    if "batch" in wanted:
        from . import batch

        _section(results, "batch", "(c) batch throughput ...", lambda: batch.run(log=log))
    if "lsst_images" in wanted:
        from . import lsst_images

        _section(results, "lsst_images", "(d) lsst.images files ...",
                 lambda: lsst_images.run(lsst_images.prepare(log), log=log), lsst_images.available())
    if "serve" in wanted:
        from . import serve

        _section(results, "serve", "(e) cutout serve under load ...", lambda: serve.run(log=log), serve.available())
    shutil.rmtree(config.TMP, ignore_errors=True)
    results["notes"] = notes
    results["meta"]["elapsed"] = time.perf_counter() - start
    _save(results)
    print(_write_report(results))
    log(f"report: {config.REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
