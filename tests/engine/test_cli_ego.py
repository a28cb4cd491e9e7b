"""The fuse / explain / protocol commands are registered and each has help."""

from __future__ import annotations

import pytest

from egoaction.cli import main


@pytest.mark.parametrize("argv", [["fuse"], ["explain"], ["protocol"], ["protocol", "gtea61-louo"]])
def test_ego_commands_have_help(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    assert f"usage: egoaction {' '.join(argv)}" in capsys.readouterr().out
