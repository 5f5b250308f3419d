"""Bad input never gives a traceback, a half-written file or lost output (docs/errors.md)."""

import contextlib
import io
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cutout_cli.cli import main

from .bad_input_cases import CASES, Env, render_table
from .conftest import TARGET_11

DOCUMENTED_CODES = {0, 1, 2, 3, 4, 5}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stderr_log(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_input_log")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, small_repo, tmp_path, stderr_log):
    result = case.run(Env(small_repo, tmp_path, stderr_log))
    assert result.code == case.code, result.stderr
    assert "Traceback" not in result.stderr
    if case.code in (2, 3, 4, 5):
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cutout: error: "), result.stderr
    if case.message:
        where = result.stderr
        if case.code == 1:
            where += "\n".join(row["message"] for row in result.manifest())
        assert case.message in where, where
    if result.out is not None and result.out.exists():
        assert not [p for p in result.out.iterdir() if p.name.endswith(".tmp")]


def test_no_traceback_in_the_whole_suite(stderr_log):
    """The acceptance grep: run last in this module, over every case's stderr."""
    log = stderr_log / "stderr.log"
    assert log.exists() and "Traceback" not in log.read_text()


def test_error_table_is_current():
    assert (ROOT / "docs" / "errors.md").read_text() == render_table(), \
        "regenerate with: python -m tests.bad_input_cases > docs/errors.md"


# -- fuzzing: either a result or a clean, documented error ------------------------------
def run_in_process(argv) -> tuple[int, str]:
    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        code = main([str(a) for a in argv])
    return code, stderr.getvalue()


def assert_clean(code: int, stderr: str) -> None:
    assert code in DOCUMENTED_CODES, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    if code in (2, 3, 4, 5):
        assert re.match(r"^(cutout: error: |Usage: |Error: )", stderr), stderr


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
numberish = st.one_of(text, st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-1000, 1000).map(str), st.sampled_from(["03:33:16.5", "-27:50:39", "1e400", "-0"]))
sizes = st.one_of(text, st.sampled_from(["0", "-1", "1e9", "5deg", "10arcsec", "3,4", "1.5px", "nan", "9"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ra=numberish, dec=numberish, size=sizes)
def test_fuzz_bbox_positions_and_sizes(small_repo, ra, dec, size):
    assert_clean(*run_in_process(["--repo", small_repo.root, "bbox", "--ra", ra, "--dec", dec, "--size", size,
                                  "--format", "json"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ra=numberish, dec=numberish, size=sizes)
def test_fuzz_subset(small_repo, tmp_path, ra, dec, size):
    out = tmp_path / "fuzz.fits"
    code, stderr = run_in_process(["--repo", small_repo.root, "subset", "--ra", ra, "--dec", dec, "--size", size,
                                   "--band", "r", "-o", out, "--overwrite"])
    assert_clean(code, stderr)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


csv_cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(csv_cells, max_size=5), body=st.lists(st.lists(csv_cells, max_size=5), max_size=5),
       good=st.booleans())
def test_fuzz_target_lists(small_repo, tmp_path, header, body, good):
    import csv

    path = tmp_path / "fuzz.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ra", "dec"] if good else header)
        writer.writerows(body + ([["t", TARGET_11[0], TARGET_11[1]]] if good else []))
    code, stderr = run_in_process(["--repo", small_repo.root, "batch", path, "--size", "5", "--band", "r",
                                   "--out", tmp_path / "out", "--overwrite"])
    assert_clean(code, stderr)
    out = tmp_path / "out"
    if out.exists():
        assert all(p.parent == out for p in out.rglob("*")) and not list(out.glob("*.tmp"))
