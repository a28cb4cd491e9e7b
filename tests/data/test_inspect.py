"""`egoaction data inspect` reads every synthetic segment cleanly and reports broken files by name."""

from __future__ import annotations

import shutil

import pytest

from egoaction.cli import main
from egoaction.data.formats import read_index
from egoaction.data.inspect import format_report, inspect_dataset


@pytest.mark.parametrize("fmt", ["epic100", "gtea61", "ucf101"])
def test_inspect_reads_every_synthetic_segment(synth_root, fmt, capsys):
    report = inspect_dataset(fmt, synth_root(fmt))
    assert report.num_problems == 0, format_report(report)
    assert sum(s.num_segments for s in report.splits) > 0
    shape, dtype = report.sample["rgb"]
    assert shape[:2] == (8, 3) and dtype == "uint8"
    assert main(["data", "inspect", "--format", fmt, "--root", str(synth_root(fmt))]) == 0
    out = capsys.readouterr().out
    assert "0 problem(s)" in out and "one sample" in out


def test_inspect_names_missing_and_corrupt_frames(synth_root, tmp_path, capsys):
    root = tmp_path / "epic"
    shutil.copytree(synth_root("epic100"), root)
    seg = read_index("epic100", root, "train").segments[0]
    assert seg.rgb is not None
    missing, truncated = seg.rgb.path(seg.start_frame + 1), seg.rgb.path(seg.stop_frame)
    missing.unlink()
    truncated.write_bytes(truncated.read_bytes()[:200])
    code = main(["data", "inspect", "--format", "epic100", "--root", str(root)])
    out = capsys.readouterr().out
    assert code == 1
    assert str(missing) in out
    assert f"ERROR {seg.id}" in out
    # with the existence check off, the truncated JPEG is still caught when decoded
    missing.write_bytes(seg.rgb.path(seg.start_frame).read_bytes())
    assert main(["data", "inspect", "--format", "epic100", "--root", str(root), "--frames", "64"]) == 1
    assert truncated.name in capsys.readouterr().out


def test_inspect_reports_a_malformed_csv_with_its_line(synth_root, tmp_path, capsys):
    root = tmp_path / "epic"
    shutil.copytree(synth_root("epic100"), root)
    csv = root / "EPIC_100_validation.csv"
    lines = csv.read_text().splitlines()
    lines[2] = lines[2].replace(",", ";", 3)
    csv.write_text("\n".join(lines) + "\n")
    assert main(["data", "inspect", "--format", "epic100", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "EPIC_100_validation.csv:3" in out
