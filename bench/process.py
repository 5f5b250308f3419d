"""Benchmark (b): whole-process wall times, and what the ``cutout`` processes spend importing.

Commands (one 300 px box of tract 5063 patch 33, band r, default storage
RICE_1 128 px tiles):

* ``cutout subset ... --box X,Y,300,300 -o out.fits --overwrite`` (3 planes);
* ``imcopy 'file.fits[1][x1:x2,y1:y2]' '!out.fits'``: cfitsio's image-section
  copy, IMAGE plane only (imcopy copies one HDU per run);
* :mod:`bench.scripts.fitsio_subset`: a minimal fitsio script, 3 planes;
* baselines: ``python -c "import astropy.wcs, fitsio, numpy"``,
  ``python -c "import click, rich"``, ``python -c pass``, and ``cutout --help``.

Timed with hyperfine (``--shell=none``, warm-up runs) when it is installed,
else with a loop of child processes.  ``python -X importtime`` gives the
biggest imports of ``import cutout_cli.cli`` and of a ``cutout subset`` run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

from . import config
from .children import run_child
from .load import LoadMeter
from .data import variant_root
from .timing import Stats

SCRIPTS = config.ROOT / "bench" / "scripts"
BOX_LOCAL = (1537, 1411, 300, 300)  # x0, y0, w, h in LOCAL pixels: a box crossing tile boundaries


def commands() -> dict[str, list[str]]:
    """``{name: argv}`` of every command timed."""
    from cutout_cli.repository import Repository

    root = variant_root(config.WHOLE_PROCESS_VARIANT)
    ref = Repository(root).ref(None, config.TRACT, config.PATCH, config.BAND)
    x0, y0, w, h = BOX_LOCAL
    px, py = x0 + ref.outer.begin_x, y0 + ref.outer.begin_y
    tmp = config.TMP / "process"
    tmp.mkdir(parents=True, exist_ok=True)
    cmds = {
        "cutout subset": [config.CUTOUT, "--repo", str(root), "subset", "--tract", str(config.TRACT), "--patch",
                          str(config.PATCH), "--band", config.BAND, "--box", f"{px},{py},{w},{h}",
                          "-o", str(tmp / "cutout.fits"), "--overwrite"],
        "fitsio script": [config.PYTHON, str(SCRIPTS / "fitsio_subset.py"), ref.path, str(x0), str(y0), str(w), str(h),
                          str(tmp / "fitsio.fits")],
        "imcopy (IMAGE only)": ["imcopy", f"{ref.path}[1][{x0 + 1}:{x0 + w},{y0 + 1}:{y0 + h}]",
                                "!" + str(tmp / "imcopy.fits")],
        "import astropy.wcs, fitsio, numpy": [config.PYTHON, "-c", "import astropy.wcs, fitsio, numpy"],
        "cutout --help": [config.CUTOUT, "--help"],
        "import click, rich": [config.PYTHON, "-c", "import click, rich"],
        "python -c pass": [config.PYTHON, "-c", "pass"],
    }
    if not shutil.which("imcopy"):
        del cmds["imcopy (IMAGE only)"]
    return cmds


def _hyperfine(cmds: dict) -> dict:
    out = config.TMP / "hyperfine.json"
    argv = ["hyperfine", "--shell=none", "--warmup", str(config.PROCESS_WARMUP), "--runs", str(config.PROCESS_RUNS),
            "--export-json", str(out), "--style", "none"]
    for name, cmd in cmds.items():
        argv += ["--command-name", name, shlex.join(cmd)]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = json.loads(out.read_text())
    return {r["command"]: Stats.from_samples(r["times"]).as_dict() for r in data["results"]}


def _loop(cmds: dict) -> dict:
    results = {}
    for name, cmd in cmds.items():
        for _ in range(config.PROCESS_WARMUP):
            run_child(cmd)
        results[name] = Stats.from_samples(run_child(cmd).wall for _ in range(config.PROCESS_RUNS)).as_dict()
    return results


def _check(cmds: dict) -> dict:
    """Run each command once; any failure is reported instead of being timed silently."""
    failures = {}
    for name, cmd in cmds.items():
        run = run_child(cmd)
        if run.returncode != 0:
            failures[name] = f"exit {run.returncode}: {run.stderr.strip()[-300:]}"
    return failures


def importtime(argv_tail: list[str], top: int = 15, depth: int = 2) -> dict:
    """Biggest imports of ``python -X importtime <argv_tail>``: by cumulative time (nesting depth
    <= ``depth``, so one sees which package pulls in what) and by own time."""
    run = subprocess.run([config.PYTHON, "-X", "importtime", *argv_tail], capture_output=True, text=True,
                         cwd=config.ROOT)
    entries = []
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            _, rest = line.split(":", 1)
            self_us, cumulative_us, name = rest.split("|", 2)
        except ValueError:
            continue
        level = (len(name) - len(name.lstrip()) - 1) // 2  # one space, then two per nesting level
        entries.append((int(self_us), int(cumulative_us), name.strip(), level))
    shallow = [e for e in entries if e[3] <= depth]
    return {
        "total_ms": sum(e[0] for e in entries) / 1000.0,
        "modules": len(entries),
        "by_cumulative": [("· " * e[3] + e[2], e[1] / 1000.0, e[0] / 1000.0)
                          for e in sorted(shallow, key=lambda e: -e[1])[:top]],
        "by_self": [(e[2], e[0] / 1000.0) for e in sorted(entries, key=lambda e: -e[0])[:top]],
    }


def run(log=print) -> dict:
    cmds = commands()
    failures = _check(cmds)
    for name in failures:
        log(f"  {name} FAILED: {failures[name]}")
        del cmds[name]
    tool = "hyperfine" if shutil.which("hyperfine") else "subprocess loop"
    with LoadMeter() as load:
        times = _hyperfine(cmds) if tool == "hyperfine" else _loop(cmds)
    log(f"  others' load {load.other_cores or 0:.2f} cores")
    for name, stats in times.items():
        log(f"  {name:36s} {stats['median'] * 1e3:8.1f} ms")
    subset_tail = ["-m", "cutout_cli", *cmds["cutout subset"][1:]] if "cutout subset" in cmds else None
    imports = {"import cutout_cli.cli": importtime(["-c", "import cutout_cli.cli"])}
    if subset_tail:
        imports["cutout subset"] = importtime(subset_tail)
    return {"tool": tool, "runs": config.PROCESS_RUNS, "warmup": config.PROCESS_WARMUP, "other_cores": load.other_cores,
            "commands": {k: " ".join(shlex.quote(str(a)) for a in v) for k, v in cmds.items()},
            "times": times, "failures": failures, "imports": imports}
