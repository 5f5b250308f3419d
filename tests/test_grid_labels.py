"""A batch's grid and summary say what they show (issue 18): panels labelled by id and band, the title
counting targets and cutouts and what --grid-max left out, the summary line counting both."""

from __future__ import annotations

import json

from cutout_cli.batch.publish import grid_labels, grid_title
from cutout_cli.batch.targets import read_targets
from cutout_cli.sky.parse import parse_size

from .conftest import TARGET_8, TARGET_11, run_cli


def table(bands: str, count: int = 2):
    rows = [{"id": f"t{k}", "ra": TARGET_11[0], "dec": TARGET_11[1]} for k in range(count)]
    return read_targets(rows, parse_size("20"), bands)


def test_labels_name_the_band_when_there_are_several():
    several, one = table("r,z"), table("r")
    assert grid_labels(several, range(len(several))) == ["t0 r", "t0 z", "t1 r", "t1 z"]
    assert grid_labels(one, range(len(one))) == ["t0", "t1"]
    assert grid_labels(several, [0, 2], colour=True) == ["t0", "t1"]


def test_title_counts_targets_and_cutouts_and_what_was_left_out():
    assert grid_title("list.csv", table("r,z"), 4) == "list.csv: 2 targets, 4 cutouts"
    assert grid_title(None, table("r", 3000), 100) == "3000 targets, 3000 cutouts; showing the first 100 of 3000 cutouts"
    assert grid_title(None, table("g,r,i", 300), 100, colour=True).endswith("showing the first 100 of 300 targets")


def test_summary_line_counts_targets_and_cutouts(small_repo, tmp_path):
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec\n11,{TARGET_11[0]},{TARGET_11[1]}\n8,{TARGET_8[0]},{TARGET_8[1]}\n")
    common = ("--repo", small_repo.root, "batch", targets, "--size", 20)
    two = run_cli(*common, "--band", "r,z", "--out", tmp_path / "two", "--format", "json")
    assert two.returncode == 0, two.stderr
    assert two.stderr.startswith("2 targets, 4 cutouts: 4 ok, 0 skipped")
    record = json.loads(two.stdout)
    assert (record["targets"], record["cutouts"], record["ok"]) == (2, 4, 4)
    one = run_cli(*common, "--band", "r", "--out", tmp_path / "one")
    assert one.returncode == 0 and one.stderr.startswith("2 targets: 2 ok, 0 skipped"), one.stderr
