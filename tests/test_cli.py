"""The console script: every subcommand has help, errors are one clear line with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from egoaction.cli import main


@pytest.mark.parametrize(
    "argv", [[], ["synth"], ["prepare"], ["prepare", "frames"], ["prepare", "flow"], ["prepare", "mmaps"],
             ["data"], ["data", "inspect"]],
)  # fmt: skip
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    assert "usage: egoaction" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "egoaction", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("egoaction ")


def test_missing_dataset_root_is_a_clear_error(tmp_path, capsys):
    code = main(["data", "inspect", "--format", "epic100", "--root", str(tmp_path / "nowhere")])
    err = capsys.readouterr()
    assert code == 1
    assert "nowhere" in err.out + err.err


def test_synth_then_inspect_from_the_command_line(tmp_path, capsys):
    root = tmp_path / "ucf"
    assert main(["synth", "--format", "ucf101", "--preset", "tiny", "--seed", "1", str(root)]) == 0
    assert "synthetic ucf101" in capsys.readouterr().out
    assert main(["data", "inspect", "--format", "ucf101", "--root", str(root)]) == 0
    assert main(["synth", "--format", "ucf101", str(root)]) == 1
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "camera_motion"), [([], True), (["--still-camera"], False)])
def test_still_camera_reaches_the_renderer(tmp_path, monkeypatch, flag, camera_motion):
    import egoaction.data.synth.generate as generate

    seen = {}
    monkeypatch.setattr(generate, "synthesize", lambda *a, **kw: seen.update(kw) or "ok")
    assert main(["synth", "--format", "epic100", *flag, str(tmp_path / "epic")]) == 0
    assert seen["camera_motion"] is camera_motion


def test_still_camera_on_a_format_without_it_is_a_clear_error(tmp_path, capsys):
    assert main(["synth", "--format", "gtea61", "--still-camera", str(tmp_path / "gtea")]) == 1
    assert "epic100" in capsys.readouterr().err
    assert not (tmp_path / "gtea").exists()
