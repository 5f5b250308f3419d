"""Batch at scale: vectorised planning, parallel and Dask execution, cron safety."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.batch.plan import plan_batch
from cutout_cli.batch.targets import read_targets
from cutout_cli.sky.parse import parse_size
from cutout_cli.sky.box import Box
from cutout_cli.repository import Repository

from .conftest import TARGET_11, make_small_repo, run_cli

PLANES = ("IMAGE", "MASK", "VARIANCE")


def random_targets(repo, n, seed=0, patches=4):
    """``n`` targets spread over the inner boxes of ``patches`` patches next to TARGET_11's home."""
    rng = np.random.default_rng(seed)
    tract, home = repo.skymap.find_home(*TARGET_11)
    chosen = [tract.patch((home.x + dx, home.y + dy)) for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1))][:patches]
    which = rng.integers(0, len(chosen), n)
    x = np.array([chosen[i].inner.begin_x for i in which]) + rng.uniform(1, 198, n)
    y = np.array([chosen[i].inner.begin_y for i in which]) + rng.uniform(1, 198, n)
    ra, dec = tract.pixel_to_sky(x, y)
    return [{"id": f"t{i:05d}", "ra": f"{r:.7f}", "dec": f"{d:.7f}"} for i, (r, d) in enumerate(zip(ra, dec))]


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def busy_repo(tmp_path_factory):
    """A small repository with 4 patches (band r) and 3000 targets over them."""
    root = tmp_path_factory.mktemp("busy")
    repo = make_small_repo(root / "repo", [TARGET_11], bands=("r",))
    rows = random_targets(repo, 3000)
    make_small_repo(root / "repo", [(float(r["ra"]), float(r["dec"])) for r in rows], bands=("r",))
    return repo, write_csv(root / "targets.csv", rows)


def test_vectorised_plan_equals_scalar_find_home(tmp_path):
    (tmp_path / "repo.json").write_text(json.dumps({"skymap": "lsst_cells_v1", "datasets": {"deep_coadd": "{tract}.fits"}}))
    repo = Repository(tmp_path)
    rng = np.random.default_rng(7)
    ra, dec = rng.uniform(0, 360, 3000), np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    sizes = rng.choice(["31", "30", "7arcsec", "1arcmin,20"], 3000)
    rows = [{"id": i, "ra": repr(float(a)), "dec": repr(float(d)), "size": s} for i, (a, d, s) in enumerate(zip(ra, dec, sizes))]
    plan = plan_batch(repo, read_targets(rows, band="r"))
    for i in rng.choice(3000, 300, replace=False):
        tract, patch = repo.skymap.find_home(ra[i], dec[i])
        assert (plan.tract[i], plan.patch[i]) == (tract.id, patch.index)
        x, y = (float(v) for v in tract.sky_to_pixel(ra[i], dec[i]))
        w, h = read_targets([rows[i]], band="r").sizes[0].to_pixels(tract.pixel_scale)
        assert Box(*plan.boxes[i]) == Box.centered(x, y, w, h)
    assert set(plan.status) == {3}  # no_data: the repository holds no files


def test_tasks_are_never_larger_than_the_chunk(busy_repo):
    repo, targets = busy_repo
    plan = plan_batch(Repository(repo.root), read_targets(str(targets), parse_size("9"), "r"))
    assert max(len(task.rows) for task in plan.tasks(lambda row: f"s{row}", chunk=20, workers=2)) == 20


@pytest.mark.parametrize("workers", [1, 2, 8])
def test_tasks_cover_every_planned_row_once_and_shrink_towards_the_end(busy_repo, workers):
    repo, targets = busy_repo
    plan = plan_batch(Repository(repo.root), read_targets(str(targets), parse_size("9"), "r"))
    tasks = list(plan.tasks(lambda row: f"s{row}", chunk=500, workers=workers))
    rows = np.concatenate([task.rows for task in tasks])
    assert sorted(rows.tolist()) == sorted(np.concatenate([g.rows for g in plan.groups]).tolist())
    sizes = [len(task.rows) for task in tasks]
    assert max(sizes) <= 500
    for task in tasks:  # each task is one coadd file's, its boxes in tile (row) order
        assert len({(plan.tract[r], plan.patch[r]) for r in task.rows}) == 1
        assert list(task.boxes[:, 1]) == sorted(task.boxes[:, 1])
    if workers == 1:
        assert sizes == [min(500, len(g.rows) - start) for g in plan.groups for start in range(0, len(g.rows), 500)]
    else:  # guided: at most 1/(2 x workers) of what is left, so the last tasks are small
        assert sizes[0] == min(500, -(-len(rows) // (2 * workers)))
        assert sizes[-1] <= 50 and len(tasks) > -(-len(rows) // 500)


def test_dry_run_plans_without_reading_or_writing(busy_repo, tmp_path):
    repo, targets = busy_repo
    out = tmp_path / "never"
    result = run_cli("--repo", repo.root, "batch", targets, "--size", "9", "--band", "r", "--out", out,
                     "--dry-run", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert len(plan) == 4 and sum(p["targets"] for p in plan) == 3000 and not out.exists()
    assert "3000 in 4 coadd file(s)" in result.stderr


def _read_planes(path):
    with fits.open(path) as hdul:
        return [hdul[p].data.copy() for p in PLANES]


def test_jobs_and_single_file_give_the_same_cutouts(busy_repo, tmp_path):
    repo, targets = busy_repo
    rows = list(csv.DictReader(open(targets)))[:300]
    small = write_csv(tmp_path / "t.csv", rows)
    common = ("--repo", repo.root, "batch", small, "--size", "9", "--band", "r")
    assert run_cli(*common, "--out", tmp_path / "one", "--jobs", "1").returncode == 0
    two = run_cli(*common, "--out", tmp_path / "two", "--jobs", "2")
    assert two.returncode == 0 and "(2 processes)" in two.stderr
    assert run_cli(*common, "--out", tmp_path / "single", "--single-file", tmp_path / "all.fits").returncode == 0
    one_manifest = list(csv.DictReader(open(tmp_path / "one" / "manifest.csv")))
    two_manifest = list(csv.DictReader(open(tmp_path / "two" / "manifest.csv")))
    assert [(r["id"], r["status"], r["tract"], r["patch"]) for r in one_manifest] == \
           [(r["id"], r["status"], r["tract"], r["patch"]) for r in two_manifest]
    with fits.open(tmp_path / "all.fits") as single:
        table = single["MANIFEST"].data
        assert len(table) == 300 and list(table["status"]) == ["ok"] * 300
        for row in (1, 150, 300):
            stem = rows[row - 1]["id"]
            expected = _read_planes(tmp_path / "one" / f"{stem}_r.fits")
            for plane, array in zip(PLANES, expected):
                np.testing.assert_array_equal(single[plane, row].data, array)
                np.testing.assert_array_equal(_read_planes(tmp_path / "two" / f"{stem}_r.fits")[PLANES.index(plane)],
                                              array)
            assert single[table["hdu"][row - 1]].header["EXTVER"] == row


def _start_batch(repo, targets, out, *extra):
    env = {**os.environ}
    return subprocess.Popen([sys.executable, "-m", "cutout_cli", "--repo", str(repo.root), "batch", str(targets),
                             "--size", "9", "--band", "r", "--out", str(out), "--jobs", "1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_outputs(out: Path, count: int, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and sum(1 for _ in out.glob("*.fits")) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"batch ended before {count} outputs: {process.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("batch too slow to produce outputs")


def test_sigkill_midway_then_rerun(busy_repo, tmp_path):
    repo, targets = busy_repo
    out = tmp_path / "out"
    process = _start_batch(repo, targets, out)
    _wait_for_outputs(out, 300, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {}
    for path in out.glob("*.fits"):  # every visible output is complete and readable
        assert [p.shape for p in _read_planes(path)] == [(9, 9)] * 3
        finished[path.name] = path.stat().st_mtime_ns
    assert 300 <= len(finished) < 3000 and not (out / "manifest.csv").exists()
    rerun = run_cli("--repo", repo.root, "batch", targets, "--size", "9", "--band", "r", "--out", out, "--format", "json")
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(rerun.stdout)
    assert counts["skipped"] == len(finished) and counts["ok"] == 3000 - len(finished)
    manifest = list(csv.DictReader(open(out / "manifest.csv")))
    assert len(manifest) == 3000 and {r["status"] for r in manifest} <= {"ok", "skipped"}
    for row in manifest:
        name = Path(row["path"]).name
        assert (row["status"] == "skipped") == (name in finished)
        if name in finished:  # no finished target redone
            assert (out / name).stat().st_mtime_ns == finished[name]
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_second_batch_into_the_same_directory_is_refused(busy_repo, tmp_path):
    repo, targets = busy_repo
    out = tmp_path / "out"
    first = _start_batch(repo, targets, out)
    try:
        _wait_for_outputs(out, 50, first)
        second = run_cli("--repo", repo.root, "batch", targets, "--size", "9", "--band", "r", "--out", out)
        assert second.returncode == 4
        assert "another cutout batch (pid" in second.stderr and "is writing into" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()


def _run_in_terminal(*args) -> tuple[int, str]:
    """Run the real ``cutout`` with stdout and stderr on a pseudo-terminal; its exit code and all it drew."""
    import pty

    pid, terminal = pty.fork()
    if pid == 0:  # the child: exec at once
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
        os.execve(sys.executable, [sys.executable, "-m", "cutout_cli", *map(str, args)], env)
    drawn = []
    while True:
        try:
            data = os.read(terminal, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        drawn.append(data)
    os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(drawn).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_one_line_otherwise_silence_with_q(busy_repo, tmp_path):
    repo, targets = busy_repo
    common = ("--repo", repo.root, "batch", targets, "--size", "9", "--band", "r", "--planes", "image", "--jobs", "1")
    code, drawn = _run_in_terminal(*common, "--out", tmp_path / "tty")
    assert code == 0 and "Traceback" not in drawn
    assert "cutouts" in drawn and "/3000" in drawn  # the bar: targets done of all
    assert re.search(r"\d[\d,]* */s", drawn)  # the rate
    assert "3000 targets: 3000 ok" in drawn

    piped = run_cli(*common, "--out", tmp_path / "pipe")
    assert piped.returncode == 0 and piped.stdout == ""
    assert piped.stderr.count("\n") == 1 and piped.stderr.startswith("3000 targets: 3000 ok, 0 skipped")

    quiet = run_cli("-q", *common, "--out", tmp_path / "quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert len(list(csv.DictReader(open(tmp_path / "quiet" / "manifest.csv")))) == 3000


# -- Dask ---------------------------------------------------------------------------
distributed = pytest.importorskip("distributed")


def _compare_with_serial(repo, targets, tmp_path, *cluster_args):
    rows = list(csv.DictReader(open(targets)))[:200]
    small = write_csv(tmp_path / "t.csv", rows)
    common = ("--repo", repo.root, "batch", small, "--size", "9", "--band", "r")
    assert run_cli(*common, "--out", tmp_path / "serial", "--jobs", "1").returncode == 0
    result = run_cli(*common, "--out", tmp_path / "dask", *cluster_args)
    assert result.returncode == 0, result.stderr
    assert "Dask at" in result.stderr
    for row in rows[::40]:
        for a, b in zip(_read_planes(tmp_path / "serial" / f"{row['id']}_r.fits"),
                        _read_planes(tmp_path / "dask" / f"{row['id']}_r.fits")):
            np.testing.assert_array_equal(a, b)
    statuses = [r["status"] for r in csv.DictReader(open(tmp_path / "dask" / "manifest.csv"))]
    assert statuses == ["ok"] * 200


def test_dask_local_cluster(busy_repo, tmp_path):
    from distributed import LocalCluster

    repo, targets = busy_repo
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster:
        _compare_with_serial(repo, targets, tmp_path, "--scheduler", cluster.scheduler_address)


def test_dask_scheduler_and_worker_processes(busy_repo, tmp_path):
    repo, targets = busy_repo
    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(scheduler_file)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        worker = subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
                                   "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from distributed import Client

        with Client(scheduler_file=str(scheduler_file), timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        _compare_with_serial(repo, targets, tmp_path, "--scheduler-file", scheduler_file)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def test_unreachable_scheduler_is_a_clean_error(busy_repo, tmp_path):
    repo, targets = busy_repo
    result = run_cli("--repo", repo.root, "batch", targets, "--size", "9", "--band", "r", "--out", tmp_path / "o",
                     "--scheduler", "tcp://127.0.0.1:9")
    assert result.returncode == 5 and "cannot reach the Dask scheduler" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_coadd_that_cannot_be_opened_is_tried_once_per_task(tmp_path, monkeypatch):
    """Every row of the task gets the error, from a single attempt to open the file."""
    import cutout_cli.cutouts.handle as handle_module
    from cutout_cli.batch.execute import Outputs, run_task
    from cutout_cli.batch.targets import StemNamer
    from cutout_cli.sky.parse import parse_size

    repo = make_small_repo(tmp_path / "repo", [TARGET_11], bands=("r",))
    Path(repo.expected_path(None, repo.home(*TARGET_11), "r")).write_bytes(b"not a FITS file" * 400)
    rows = random_targets(repo, 5, patches=1)
    plan = plan_batch(repo, read_targets(rows, size=parse_size("9"), band="r"))
    (task,) = list(plan.tasks(StemNamer(plan.table)))
    opens = []
    real_open = handle_module.open_image_file
    monkeypatch.setattr(handle_module, "open_image_file", lambda *a, **k: opens.append(a[0]) or real_open(*a, **k))
    result = run_task(task, Outputs(str(tmp_path / "out")))
    assert len(opens) == 1
    assert list(result.status) == [4] * 5  # error
    assert len({result.messages[int(r)] for r in task.rows}) == 1 and "as FITS" in result.messages[int(task.rows[0])]


def test_batch_options_are_checked_before_any_work(tmp_path):
    from cutout_cli.batch.run import run_batch
    from cutout_cli.errors import InputError

    (tmp_path / "repo.json").write_text(json.dumps({"skymap": "lsst_cells_v1", "datasets": {"deep_coadd": "{tract}.fits"}}))
    repo, rows, out = Repository(tmp_path), [{"id": "a", "ra": TARGET_11[0], "dec": TARGET_11[1]}], tmp_path / "out"
    for options, text in (({"remote_read": "sometimes"}, "give remote_read one of auto, ranged, download"),
                          ({"jobs": 0}, "give jobs 1 or more"), ({"planes": ("IMAGE", "PSF")}, "unknown plane(s) PSF"),
                          ({"stretch": "cubic"}, "give stretch one of asinh"), ({"size": "9 furlongs"}, "cannot read size")):
        with pytest.raises(InputError, match=re.escape(text)):
            run_batch(repo, rows, out, band="r", **options)
    with pytest.raises(TypeError, match="unexpected keyword argument.*colour"):
        run_batch(repo, rows, out, size="9", band="r", colour=True)
    assert not out.exists()
