"""Unattended batches (cron, clusters, killed runs): the ``cutout batch`` contract as seen from outside.

Every batch here is a real ``cutout`` process (``sys.executable -m cutout_cli``) on a small repository
(2 x 2 patches of 240 x 240 px, bands r and z, written by the project's own writer); processes are
found and watched through ``/proc``.  Checked:

1. reruns repair: after ``kill -9`` of the whole process group at random moments, after ``--png`` is
   added, after cutouts are truncated: only what is missing or incomplete is cut, complete outputs
   keep their inode and mtime, exit 0;
2. cron: one command line run again as the target list grows (grid inside or outside OUT);
3. request changes (size, planes, mode, stretch) re-cut the outputs whose recorded request differs;
4. signals: SIGTERM, SIGINT x 2, SIGHUP, SIGKILL of the main process: exit codes, no process left,
   a manifest (ok / skipped / pending), and a rerun that finishes;
5. ``--allow-no-data``, a missing ``--size``, a full disk (RLIMIT_FSIZE): exit codes and one-line errors;
6. ``--single-file``: refused with ``--rgb`` / ``--png``, rewritten by an identical second run;
7. a server without Range support (``python -m http.server``) with ``--remote-read auto``.
"""

from __future__ import annotations

import os
import random
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from .unattended_helpers import (MANIFEST_COLUMNS, PLANES, PlainHTTPServer, Started, alive, children, count_outputs,
                                 descendants, describe, fits_problem, four_patch_repo, group_members, hdu_names,
                                 hdu_offsets, identity, image_shape, leftovers, manifest_header, one_line,
                                 patch_centred_targets, png_problem, png_size, read_manifest, run, snapshot,
                                 wait_until, write_targets)

SIGNAL_TARGETS = 1200  # with --png and --jobs 2: a few seconds of work on 2 cores


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return four_patch_repo(tmp_path_factory.mktemp("unattended_repo"))


@pytest.fixture(scope="module")
def lists(repo, tmp_path_factory):
    """Target lists: ``t40`` (the ~1 s batch), ``t8``, ``many`` (the signal tests')."""
    root = tmp_path_factory.mktemp("unattended_lists")
    return {
        "t40": write_targets(root / "t40.csv", patch_centred_targets(repo, 40, seed=1)),
        "t8": write_targets(root / "t8.csv", patch_centred_targets(repo, 8, seed=2)),
        "many": write_targets(root / "many.csv", patch_centred_targets(repo, SIGNAL_TARGETS, seed=3)),
    }


@pytest.fixture
def start(tmp_path):
    """Start ``cutout ARGS`` in its own session; whatever is left of each group is killed at teardown."""
    started = []

    def starter(*args):
        process = Started(tmp_path / "logs", *args)
        started.append(process)
        return process

    yield starter
    for process in started:
        process.kill_group()


def batch_args(repo, targets, out, *extra, size=50, band="r"):
    args = ["--repo", repo.root, "batch", targets]
    if size is not None:
        args += ["--size", size]
    if band is not None:
        args += ["--band", band]
    return [*args, "--out", out, *extra]


def fits_of(out: Path, row: dict, band: str = "r") -> Path:
    return out / f"{row['id']}_{row.get('band') or band}.fits"


def assert_exit(result, code: int):
    assert result.returncode == code, describe(result)
    assert "Traceback" not in result.stderr, describe(result)


def statuses(rows) -> list[str]:
    return [r["status"] for r in rows]


# -- 1. reruns repair ------------------------------------------------------------------------------

def test_manifest_has_the_request_columns(repo, lists, tmp_path):
    out = tmp_path / "out"
    result = run(*batch_args(repo, lists["t8"], out, "--png", "--jobs", 1))
    assert_exit(result, 0)
    assert manifest_header(out) == MANIFEST_COLUMNS
    rows = read_manifest(out)
    assert statuses(rows) == ["ok"] * 8
    for row in rows:
        assert "50" in row["size"], row
        assert {p.strip().upper() for p in re.split(r"[,+ ]", row["planes"]) if p.strip()} == set(PLANES), row
        assert (row["mode"], row["stretch"]) == ("partial", "asinh"), row


def test_kill_9_of_the_group_at_random_moments_then_rerun_repairs(repo, lists, tmp_path, start):
    rng = random.Random(20261203)
    failures, interrupted = [], 0
    for attempt in range(20):
        delay = rng.uniform(0.05, 1.5)
        out, grid = tmp_path / f"run{attempt:02d}", tmp_path / f"grid{attempt:02d}.png"
        args = batch_args(repo, lists["t40"], out, "--png", "--grid", grid, "--jobs", 2)
        where = f"attempt {attempt} (kill -9 after {delay:.2f} s)"
        batch = start(*args)
        time.sleep(delay)
        group = [batch.pid, *descendants(batch.pid)]
        try:
            os.killpg(batch.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        batch.wait(30)
        if not wait_until(lambda: not group_members(batch.pid) and not any(alive(p) for p in group), 2.0):
            failures.append(f"{where}: processes of the killed group still alive: {group_members(batch.pid)}")
        interrupted += not grid.exists()  # the grid is the batch's last file
        before = {}
        if out.exists():  # a name only ever shows a whole file
            for name, ident in snapshot(out).items():
                problem = fits_problem(out / name) if name.endswith(".fits") else png_problem(out / name)
                if problem:
                    failures.append(f"{where}: visible incomplete output after the kill: {problem}")
                else:
                    before[name] = ident
        rerun = run(*args)
        if rerun.returncode != 0 or "Traceback" in rerun.stderr:
            failures.append(f"{where}: rerun {describe(rerun)}")
            continue
        rows = read_manifest(out)
        if len(rows) != 40 or set(statuses(rows)) - {"ok", "skipped"}:
            failures.append(f"{where}: manifest after the rerun: {len(rows)} rows, statuses {set(statuses(rows))}")
        for row in rows:
            fits_path = fits_of(out, row)
            for problem in (fits_problem(fits_path), png_problem(fits_path.with_suffix(".png"))):
                if problem:
                    failures.append(f"{where}: after the rerun: {problem}")
            had_both = fits_path.name in before and fits_path.with_suffix(".png").name in before
            had_none = fits_path.name not in before and fits_path.with_suffix(".png").name not in before
            if (had_both and row["status"] != "skipped") or (had_none and row["status"] != "ok"):
                failures.append(f"{where}: row {row['id']} status {row['status']} (outputs complete before the "
                                f"rerun: {'all' if had_both else 'none'})")
        after = snapshot(out)
        rewritten = sorted(name for name, ident in before.items() if after.get(name) != ident)
        if rewritten:
            failures.append(f"{where}: complete outputs rewritten by the rerun: {rewritten[:5]} "
                            f"({len(rewritten)} of {len(before)})")
        if leftovers(out, tmp_path):
            failures.append(f"{where}: temporaries left: {leftovers(out, tmp_path)}")
        if png_problem(grid):
            failures.append(f"{where}: grid: {png_problem(grid)}")
    assert not failures, f"{len(failures)} problem(s):\n" + "\n".join(failures[:40])
    assert interrupted >= 5, f"only {interrupted} of 20 kills came before the batch finished (the test needs longer runs)"


def test_rerun_with_png_added_makes_the_pngs_and_keeps_the_fits(repo, lists, tmp_path):
    out = tmp_path / "out"
    assert_exit(run(*batch_args(repo, lists["t8"], out, "--jobs", 1)), 0)
    fits_before = snapshot(out, (".fits",))
    assert len(fits_before) == 8
    again = run(*batch_args(repo, lists["t8"], out, "--png", "--jobs", 1))
    assert_exit(again, 0)
    rows = read_manifest(out)
    assert len(rows) == 8 and set(statuses(rows)) <= {"ok", "skipped"}, statuses(rows)
    for row in rows:
        assert png_problem(fits_of(out, row).with_suffix(".png")) is None
        assert png_size(fits_of(out, row).with_suffix(".png")) == (50, 50)
    assert snapshot(out, (".fits",)) == fits_before, "FITS cutouts were rewritten"
    assert not leftovers(out)


def test_rerun_replaces_exactly_the_truncated_outputs(repo, lists, tmp_path):
    out = tmp_path / "out"
    args = batch_args(repo, lists["t8"], out, "--png", "--jobs", 1)
    assert_exit(run(*args), 0)
    rows = read_manifest(out)
    cut = {  # row: (file, size to truncate it to)
        0: (fits_of(out, rows[0]), lambda p: p.stat().st_size // 2),
        1: (fits_of(out, rows[1]), lambda p: hdu_offsets(p)["VARIANCE"]),  # whole HDUs, the last one gone
        2: (fits_of(out, rows[2]), lambda p: p.stat().st_size - 1),
        3: (fits_of(out, rows[3]), lambda p: 0),
        5: (fits_of(out, rows[5]).with_suffix(".png"), lambda p: p.stat().st_size // 2),
        6: (fits_of(out, rows[6]).with_suffix(".png"), lambda p: p.stat().st_size - 12),  # no IEND chunk
    }
    for path, size in cut.values():
        os.truncate(path, size(path))
        assert (fits_problem if path.suffix == ".fits" else png_problem)(path), path  # the checks see it
    before = snapshot(out)
    again = run(*args)
    assert_exit(again, 0)
    after = snapshot(out)
    assert sorted(after) == sorted(before)
    rewritten = sorted(n for n in before if after[n] != before[n])
    assert rewritten == sorted(path.name for path, _ in cut.values()), "rewritten: " + ", ".join(rewritten)
    for path, _ in cut.values():
        if path.suffix == ".fits":
            assert fits_problem(path) is None and image_shape(path) == (50, 50)
        else:
            assert png_problem(path) is None
    expected = ["ok" if i in cut else "skipped" for i in range(8)]
    assert statuses(read_manifest(out)) == expected
    assert not leftovers(out)


def test_rows_whose_own_request_changed_are_recut_alone(repo, tmp_path):
    """A row's size column or position changed in the list: that row is re-cut, the others skipped."""
    rows = [{**r, "size": "20"} for r in patch_centred_targets(repo, 6, seed=9)]
    targets, out = tmp_path / "t.csv", tmp_path / "out"
    args = batch_args(repo, targets, out, "--png", "--jobs", 1)
    write_targets(targets, rows)
    assert_exit(run(*args), 0)
    before = snapshot(out)
    rows[1]["size"] = "30"
    rows[4]["dec"] = f"{float(rows[4]['dec']) + 2 / 3600:.7f}"  # moved by 2 arcsec = 10 px
    write_targets(targets, rows)
    again = run(*args)
    assert_exit(again, 0)
    assert statuses(read_manifest(out)) == ["skipped", "ok", "skipped", "skipped", "ok", "skipped"]
    after = snapshot(out)
    changed = sorted(n for n in before if after[n] != before[n])
    assert changed == sorted(f"{rows[i]['id']}_r{s}" for i in (1, 4) for s in (".fits", ".png")), changed
    assert image_shape(out / f"{rows[1]['id']}_r.fits") == (30, 30)
    from astropy.io import fits
    from astropy.wcs import WCS

    with fits.open(out / f"{rows[4]['id']}_r.fits") as moved:  # the box is centred on the new position
        ra, dec = WCS(moved["IMAGE"].header).all_pix2world([[9.5, 9.5]], 0)[0]
    assert abs(dec - float(rows[4]["dec"])) * 3600 < 0.3 and abs(ra - float(rows[4]["ra"])) * 3600 < 0.5


def test_a_png_of_an_earlier_request_beside_a_recut_fits_is_redrawn(repo, lists, tmp_path):
    """What a kill between a re-cut FITS and its PNG leaves, made on purpose: OUT holds the --size 30
    outputs except one PNG, which is the --size 50 run's.  The rerun with --size 30 redraws it."""
    old, out = tmp_path / "old", tmp_path / "out"
    assert_exit(run(*batch_args(repo, lists["t8"], old, "--png", "--jobs", 1)), 0)
    args = batch_args(repo, lists["t8"], out, "--png", "--jobs", 1, size=30)
    assert_exit(run(*args), 0)
    stale = out / "t0002_r.png"
    shutil.copy2(old / stale.name, stale)
    again = run(*args)
    assert_exit(again, 0)
    assert png_size(stale) == (30, 30), f"{stale.name} still the --size 50 picture beside a --size 30 FITS"
    assert statuses(read_manifest(out))[2] == "ok"


def test_kill_9_during_a_request_change_then_rerun(repo, lists, tmp_path, start):
    """Never a mix of old and new: after an interrupted re-cut (--size 50 -> 30), a rerun leaves every
    FITS and PNG at the new size."""
    rng = random.Random(7)
    for attempt in range(5):
        delay = rng.uniform(0.05, 1.2)
        out = tmp_path / f"run{attempt}"
        assert_exit(run(*batch_args(repo, lists["t40"], out, "--png", "--jobs", 2)), 0)
        new = batch_args(repo, lists["t40"], out, "--png", "--jobs", 2, size=30)
        batch = start(*new)
        time.sleep(delay)
        try:
            os.killpg(batch.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        batch.wait(30)
        wait_until(lambda: not group_members(batch.pid), 2.0)
        rerun = run(*new)
        assert rerun.returncode == 0, f"attempt {attempt} (killed after {delay:.2f} s): {describe(rerun)}"
        for row in read_manifest(out):
            assert row["status"] in ("ok", "skipped") and "30" in row["size"], (attempt, row)
            path = fits_of(out, row)
            assert fits_problem(path) is None and png_problem(path.with_suffix(".png")) is None
            assert (image_shape(path), png_size(path.with_suffix(".png"))) == ((30, 30), (30, 30)), \
                f"attempt {attempt} (killed after {delay:.2f} s): {path.name} mixes requests"
        assert not leftovers(out)


# -- 2. cron -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("grid_inside_out", [True, False], ids=["grid-in-out", "grid-elsewhere"])
def test_cron_runs_as_the_list_grows(repo, tmp_path, grid_inside_out):
    targets, out = tmp_path / "targets.csv", tmp_path / "out"
    grid = (out / "grid.png") if grid_inside_out else (tmp_path / "pictures" / "grid.png")
    grid.parent.mkdir(parents=True, exist_ok=True)
    args = batch_args(repo, targets, out, "--png", "--grid", grid, "--jobs", 2)
    every, grid_before, cut_before = [], None, {}
    for run_number, (count, start_at) in enumerate(((6, 0), (4, 6), (5, 10))):
        new = patch_centred_targets(repo, count, seed=10 + run_number, prefix="c", start=start_at)
        write_targets(targets, new, ["id", "ra", "dec"], append=run_number > 0)
        every += new
        result = run(*args)
        assert result.returncode == 0, f"run {run_number + 1}: {describe(result)}"
        rows = read_manifest(out)
        assert [r["id"] for r in rows] == [r["id"] for r in every], f"run {run_number + 1}"
        new_ids = {r["id"] for r in new}
        assert [r["status"] for r in rows] == ["ok" if r["id"] in new_ids else "skipped" for r in rows], \
            f"run {run_number + 1}"
        for row in rows:
            assert fits_problem(fits_of(out, row)) is None
        assert png_problem(grid) is None, f"run {run_number + 1}"
        assert identity(grid) != grid_before, f"run {run_number + 1}: the grid was not rewritten"
        grid_before = identity(grid)
        now = {n: i for n, i in snapshot(out).items() if n != grid.name}
        assert {n: now[n] for n in cut_before} == cut_before, f"run {run_number + 1}: old cutouts rewritten"
        cut_before = now
        assert not leftovers(out, grid.parent)


# -- 3. request changes --------------------------------------------------------------------------------

CHANGES = {
    "size": (["--size", "30"], ".fits .png"),
    "planes": (["--planes", "image"], ".fits"),
    "mode": (["--mode", "strict"], ".fits"),
    "stretch": (["--stretch", "linear"], ".png"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_request_recuts_the_outputs(repo, lists, tmp_path, change):
    extra, recut = CHANGES[change]
    out = tmp_path / "out"
    first = batch_args(repo, lists["t8"], out, "--png", "--jobs", 1)
    assert_exit(run(*first), 0)
    before = snapshot(out)
    if change == "size":
        second = batch_args(repo, lists["t8"], out, "--png", "--jobs", 1, size=30)
    else:
        second = batch_args(repo, lists["t8"], out, "--png", "--jobs", 1, *extra)
    result = run(*second)
    assert_exit(result, 0)
    rows = read_manifest(out)
    assert statuses(rows) == ["ok"] * 8, statuses(rows)
    after = snapshot(out)
    for row in rows:
        fits_path = fits_of(out, row)
        assert fits_problem(fits_path, ("IMAGE",) if change == "planes" else PLANES) is None
        assert png_problem(fits_path.with_suffix(".png")) is None
        for suffix in recut.split():
            name = fits_path.with_suffix(suffix).name
            assert after[name] != before[name], f"{name} not re-cut after {' '.join(extra)}"
        if change == "size":
            assert image_shape(fits_path) == (30, 30) and png_size(fits_path.with_suffix(".png")) == (30, 30)
            assert "30" in row["size"] and "50" not in row["size"], row
        else:
            assert image_shape(fits_path) == (50, 50)
        if change == "planes":
            assert hdu_names(fits_path) == ["IMAGE"]
            assert row["planes"].strip().lower() == "image", row
        else:
            assert hdu_names(fits_path) == list(PLANES)
        if change == "mode":
            assert row["mode"] == "strict", row
        if change == "stretch":
            assert row["stretch"] == "linear", row
    assert not leftovers(out)
    # the same new request again: nothing to redo
    settled = snapshot(out)
    third = run(*second)
    assert_exit(third, 0)
    assert statuses(read_manifest(out)) == ["skipped"] * 8
    assert snapshot(out) == settled


# -- 4. signals ------------------------------------------------------------------------------------------

def start_long_batch(start, repo, lists, out):
    """A --jobs 2 batch of SIGNAL_TARGETS targets, once both workers run and it has written 30 cutouts;
    returns (the batch, every descendant of its main process)."""
    batch = start(*batch_args(repo, lists["many"], out, "--png", "--jobs", 2))
    assert wait_until(lambda: len(children(batch.pid)) >= 2 or batch.poll() is not None, 60)
    assert wait_until(lambda: count_outputs(out) >= 30 or batch.poll() is not None, 60)
    workers = descendants(batch.pid)
    assert batch.poll() is None, f"the batch ended before the signal: {batch.describe()}"
    assert len(children(batch.pid)) >= 2, f"the main process has children {children(batch.pid)}, not 2 workers"
    return batch, workers


def wait_exit(batch, deadline: float, what: str):
    try:
        batch.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: the main process still runs 2 s after the signal")


def assert_stopped_manifest(out: Path, batch):
    assert (out / "manifest.csv").exists(), f"no manifest after the signal; {batch.describe()}"
    rows = read_manifest(out)
    assert len(rows) == SIGNAL_TARGETS
    found = set(statuses(rows))
    assert found <= {"ok", "skipped", "pending"}, found
    ok = [r for r in rows if r["status"] == "ok"]
    for row in ok[:: max(1, len(ok) // 40)]:
        assert fits_problem(fits_of(out, row)) is None
    assert one_line(batch.stderr), f"not one line: {batch.stderr!r}"


def assert_rerun_finishes(repo, lists, out):
    result = run(*batch_args(repo, lists["many"], out, "--png", "--jobs", 2))
    assert_exit(result, 0)
    rows = read_manifest(out)
    assert len(rows) == SIGNAL_TARGETS and set(statuses(rows)) <= {"ok", "skipped"}
    assert not leftovers(out)


def test_sigterm_to_the_main_process(repo, lists, tmp_path, start):
    out = tmp_path / "out"
    batch, workers = start_long_batch(start, repo, lists, out)
    sent = time.monotonic()
    os.kill(batch.pid, signal.SIGTERM)
    wait_exit(batch, sent + 2.0, "SIGTERM")
    assert batch.returncode == 143, batch.describe()
    gone = wait_until(lambda: not any(alive(p) for p in workers), max(0.0, sent + 2.0 - time.monotonic()))
    assert gone, f"workers alive 2 s after SIGTERM: {[p for p in workers if alive(p)]}"
    assert_stopped_manifest(out, batch)
    assert_rerun_finishes(repo, lists, out)


def test_two_sigints_to_the_group(repo, lists, tmp_path, start):
    out = tmp_path / "out"
    batch, workers = start_long_batch(start, repo, lists, out)
    sent = time.monotonic()
    os.killpg(batch.pid, signal.SIGINT)
    time.sleep(0.2)
    try:
        os.killpg(batch.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    wait_exit(batch, sent + 2.0, "SIGINT x 2")
    assert batch.returncode == 130, batch.describe()
    gone = wait_until(lambda: not group_members(batch.pid), max(0.0, sent + 2.0 - time.monotonic()))
    assert gone, f"processes of the group alive 2 s after the first SIGINT: {group_members(batch.pid)}"
    assert_stopped_manifest(out, batch)
    assert_rerun_finishes(repo, lists, out)


def test_sighup_to_the_main_process(repo, lists, tmp_path, start):
    out = tmp_path / "out"
    batch, workers = start_long_batch(start, repo, lists, out)
    sent = time.monotonic()
    os.kill(batch.pid, signal.SIGHUP)
    wait_exit(batch, sent + 2.0, "SIGHUP")
    assert batch.returncode == 129, batch.describe()
    assert wait_until(lambda: not any(alive(p) for p in workers), 2.0), \
        f"workers alive after SIGHUP: {[p for p in workers if alive(p)]}"
    assert_stopped_manifest(out, batch)
    assert_rerun_finishes(repo, lists, out)


def test_sigkill_of_the_main_process_alone_stops_the_workers(repo, lists, tmp_path, start):
    out = tmp_path / "out"
    batch, workers = start_long_batch(start, repo, lists, out)
    sent = time.monotonic()
    os.kill(batch.pid, signal.SIGKILL)
    batch.wait(10)
    gone = wait_until(lambda: not any(alive(p) for p in workers), max(0.0, sent + 2.0 - time.monotonic()))
    assert gone, f"workers alive 2 s after SIGKILL of their parent: {[p for p in workers if alive(p)]}"
    assert_rerun_finishes(repo, lists, out)


# -- 5. no data, usage errors, a full disk -------------------------------------------------------------

def test_allow_no_data(repo, tmp_path):
    rows = patch_centred_targets(repo, 3, seed=4) + [{"id": "nowhere", "ra": "200.0", "dec": "40.0"}]
    targets = write_targets(tmp_path / "t.csv", rows)
    strict = run(*batch_args(repo, targets, tmp_path / "strict", "--jobs", 1))
    assert_exit(strict, 1)
    assert one_line(strict.stderr), describe(strict)
    assert statuses(read_manifest(tmp_path / "strict")) == ["ok", "ok", "ok", "no_data"]
    allowed = run(*batch_args(repo, targets, tmp_path / "allowed", "--jobs", 1, "--allow-no-data"))
    assert_exit(allowed, 0)
    assert statuses(read_manifest(tmp_path / "allowed")) == ["ok", "ok", "ok", "no_data"]


def test_missing_size_is_a_usage_error_before_any_output(repo, lists, tmp_path):
    out = tmp_path / "out"
    result = run(*batch_args(repo, lists["t8"], out, "--png", "--jobs", 2, size=None))
    assert_exit(result, 2)
    assert one_line(result.stderr) and "--size" in result.stderr, describe(result)
    assert not out.exists() or not [p for p in os.listdir(out) if not p.startswith(".")], os.listdir(out)


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_full_disk_stops_with_exit_4_and_a_manifest(repo, tmp_path):
    small_before = patch_centred_targets(repo, 5, seed=5, prefix="a")
    big = patch_centred_targets(repo, 1, seed=6, prefix="big")
    small_after = patch_centred_targets(repo, 5, seed=7, prefix="z")
    rows = [{**r, "size": "20"} for r in small_before] + [{**big[0], "size": "400"}] + \
           [{**r, "size": "20"} for r in small_after]
    targets = write_targets(tmp_path / "t.csv", rows)
    out = tmp_path / "out"
    result = run(*batch_args(repo, targets, out, "--jobs", 1), preexec_fn=_limit_file_size)
    assert_exit(result, 4)
    assert one_line(result.stderr), describe(result)
    assert (out / "manifest.csv").exists(), describe(result)
    manifest = read_manifest(out)
    assert [r["id"] for r in manifest] == [r["id"] for r in rows]
    by_id = {r["id"]: r for r in manifest}
    assert by_id["big0000"]["status"] != "ok" and not fits_of(out, by_id["big0000"]).exists()
    assert set(statuses(manifest)) <= {"ok", "error", "pending"}, statuses(manifest)
    ok = [r for r in manifest if r["status"] == "ok"]
    assert ok, f"no row cut before the disk was full: {statuses(manifest)}"
    assert {r["id"] for r in small_before} <= {r["id"] for r in ok}, statuses(manifest)
    for row in ok:
        assert fits_problem(fits_of(out, row)) is None and image_shape(fits_of(out, row)) == (20, 20)
    visible = {p.name for p in out.glob("*.fits")}
    assert visible == {fits_of(out, r).name for r in ok}, "files whose rows are not ok"
    assert not leftovers(out)


# -- 6. one file ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("picture, band", [("--rgb", "r,z"), ("--png", "r")])
def test_single_file_refuses_pictures(repo, lists, tmp_path, picture, band):
    out, single = tmp_path / "out", tmp_path / "F.fits"
    result = run(*batch_args(repo, lists["t8"], out, "--single-file", single, picture, "--jobs", 1, band=band))
    assert_exit(result, 2)
    assert one_line(result.stderr) and picture in result.stderr, describe(result)
    assert not single.exists()
    assert not out.exists() or not [p for p in os.listdir(out) if not p.startswith(".")], os.listdir(out)


SUMMARY = re.compile(r"(\d+) targets: (\d+) ok, (\d+) skipped, (\d+) no data, (\d+) errors")


def _single_manifest(path):
    from astropy.io import fits

    with fits.open(path) as hdul:
        return [s.decode() if isinstance(s, bytes) else str(s) for s in hdul["MANIFEST"].data["status"]]


def test_single_file_twice(repo, lists, tmp_path):
    out, single = tmp_path / "out", tmp_path / "F.fits"
    args = batch_args(repo, lists["t8"], out, "--single-file", single, "--jobs", 1)
    first = run(*args)
    assert_exit(first, 0)
    counts = SUMMARY.search(first.stderr)
    assert counts, describe(first)
    assert (int(counts[2]), int(counts[4]), int(counts[5])) == (8, 0, 0), first.stderr
    assert _single_manifest(single) == ["ok"] * 8
    before = identity(single)
    second = run(*args)
    assert_exit(second, 0)
    assert "exists" not in second.stderr, describe(second)
    assert identity(single) != before, "the single file was not rewritten"
    found = _single_manifest(single)
    counts = SUMMARY.search(second.stderr)
    assert counts, describe(second)
    assert (found.count("ok"), found.count("skipped"), int(counts[5])) == (int(counts[2]), int(counts[3]), 0), \
        (found, second.stderr)
    assert found.count("ok") == 8, found
    assert not leftovers(out, tmp_path)


# -- 7. a server without Range support ---------------------------------------------------------------------

def test_remote_read_auto_against_a_server_without_ranges(repo, tmp_path):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    targets = write_targets(tmp_path / "t.csv", patch_centred_targets(repo, 8, seed=8))
    local = run(*batch_args(repo, targets, tmp_path / "local", "--jobs", 1, size=25))
    assert_exit(local, 0)
    with PlainHTTPServer(repo.root) as server:
        remote = run("--repo", server.url, "batch", targets, "--size", 25, "--band", "r", "--out", tmp_path / "remote",
                     "--remote-read", "auto", "--jobs", 1, timeout=120)
    assert_exit(remote, 0)
    rows = read_manifest(tmp_path / "remote")
    assert statuses(rows) == ["ok"] * 8
    from astropy.io import fits

    for row in rows:
        with fits.open(fits_of(tmp_path / "remote", row)) as a, fits.open(fits_of(tmp_path / "local", row)) as b:
            for plane in PLANES:
                np.testing.assert_array_equal(a[plane].data, b[plane].data, err_msg=f"{row['id']} {plane}")
    assert not leftovers(tmp_path / "remote")
