"""Atomic output files: the name shows a complete file or nothing, whatever happens to the writer."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from cutout_cli.errors import OutputError
from cutout_cli.writers import atomic
from cutout_cli.writers.atomic import write_atomically

FORK = multiprocessing.get_context("fork")


def test_new_file_has_the_bytes_and_nothing_else_is_left(tmp_path):
    path = tmp_path / "a.fits"
    write_atomically(path, [b"x" * 2880, b"y" * 2880])
    assert path.read_bytes() == b"x" * 2880 + b"y" * 2880
    assert os.listdir(tmp_path) == ["a.fits"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_existing_file_is_refused_then_replaced_with_overwrite(tmp_path):
    path = tmp_path / "a.fits"
    path.write_bytes(b"first")
    with pytest.raises(OutputError, match="exists.*overwrite=True"):
        write_atomically(path, [b"second"])
    assert path.read_bytes() == b"first"
    write_atomically(path, [b"second"], overwrite=True)
    assert path.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["a.fits"]


def test_missing_directory_is_created(tmp_path):
    path = tmp_path / "new" / "dir" / "a.png"
    write_atomically(path, [b"png"])
    assert path.read_bytes() == b"png"


def _race(path, content, start, results):
    start.wait()
    try:
        write_atomically(path, [content * 100_000])
        results.put(content)
    except OutputError as err:
        results.put(str(err))


def test_two_writers_of_one_new_name_never_replace_each_other(tmp_path):
    """Exactly one of two simultaneous writers creates the file; the other is told it exists."""
    for attempt in range(5):
        path = tmp_path / f"race{attempt}.fits"
        start, results = FORK.Barrier(2), FORK.Queue()
        writers = [FORK.Process(target=_race, args=(path, tag, start, results)) for tag in (b"A", b"B")]
        for writer in writers:
            writer.start()
        outcomes = [results.get(timeout=60) for _ in writers]
        for writer in writers:
            writer.join()
        winners = [o for o in outcomes if isinstance(o, bytes)]
        assert len(winners) == 1, outcomes
        assert any("exists" in o for o in outcomes if isinstance(o, str))
        assert path.read_bytes() == winners[0] * 100_000


def _slow_writer(path, ready):
    def chunks():
        yield b"half of a file"
        ready.set()
        time.sleep(60)
        yield b"the other half"

    write_atomically(path, chunks())


def test_writer_killed_midway_leaves_no_name(tmp_path):
    path = tmp_path / "killed.fits"
    ready = FORK.Event()
    writer = FORK.Process(target=_slow_writer, args=(path, ready))
    writer.start()
    assert ready.wait(30)
    if atomic._O_TMPFILE:  # written unnamed: not even a temporary name is visible
        assert os.listdir(tmp_path) == []
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    assert not path.exists()
    if atomic._O_TMPFILE:
        assert os.listdir(tmp_path) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
