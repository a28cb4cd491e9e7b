"""Attention heat maps: valid PNG + GIF of the sampled frames, the overlay is hottest where the model's map peaks,
and models without a spatial map are refused with their name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from egoaction.cli import main
from egoaction.config import ExperimentConfig, load_config
from egoaction.engine.checkpoint import INFO_KEY
from egoaction.engine.explain import BANNER, explain_model, sample_clip
from egoaction.engine.fit import datamodule, make_model, run_info
from egoaction.models.base import VideoModel

from .conftest import tiny_overrides

CLASSES = {"action": ["a", "b", "c"]}


class BrightSpot(VideoModel):
    """Attention = softmax over a 4x4 grid of each frame's brightness: it peaks on the brightest cell."""

    def __init__(self, task_spec: dict[str, int], attention: str = "spatial") -> None:
        super().__init__(task_spec)
        self.backbone = nn.Identity()
        self.fc = nn.Linear(3, task_spec["action"])
        self.kind = attention

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = batch["rgb"]  # (B, T, 3, H, W)
        b, t = x.shape[:2]
        out = {"action": self.fc(x.mean((1, 3, 4)))}
        grid = F.adaptive_avg_pool2d(x.mean(2).flatten(0, 1)[:, None], 4).flatten(1)
        if self.kind == "spatial":
            out["attention"] = (10 * grid).softmax(1).view(b, t, 4, 4)
        elif self.kind == "temporal":
            out["attention"] = torch.full((b, t, t), 1.0 / t)
        return out


@pytest.fixture()
def frames(tmp_path: Path) -> Path:
    """Six 64x64 black frames with a white 16x16 square in the top-left quadrant."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(1, 7):
        image = np.zeros((64, 64, 3), dtype=np.uint8)
        image[8:24, 8:24] = 255
        Image.fromarray(image).save(folder / f"img_{i:05d}.png")
    return folder


@pytest.fixture()
def cfg(tmp_path: Path) -> ExperimentConfig:
    return load_config(None, tiny_overrides(tmp_path, tmp_path / "runs"))  # 32x32 centre crops of 36


def test_overlay_is_hottest_where_the_attention_peaks(frames: Path, cfg: ExperimentConfig, tmp_path: Path) -> None:
    result = explain_model(BrightSpot({"action": 3}), cfg, CLASSES, frames, tmp_path / "out", frames=4, device="cpu")
    assert len(result["frames"]) == 4 and result["size"] == [32, 32] and result["attention_size"] == [4, 4]
    assert result["top1"].startswith("action: ")
    gif = Image.open(tmp_path / "out" / "attention.gif")
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.size == (32, 32 + BANNER)
    clip, numbers = sample_clip(cfg, CLASSES, frames, 4)
    assert numbers == result["frames"]
    for k in range(gif.n_frames):
        gif.seek(k)
        shown = np.asarray(gif.convert("RGB"), dtype=np.float64)[BANNER:]
        heat = 2 * shown - clip[k].permute(1, 2, 0).numpy()  # undo the 50 % blend with the frame the model saw
        redness = heat[..., 0] - heat[..., 2]  # jet: red = hottest, blue = coldest
        # the square (8..24 of 64) lands on about 3..11 of the 32-pixel crop of the 36-pixel resize, so the
        # model's 4x4 map peaks on its top-left 8x8 cell
        row, col = np.unravel_index(redness.argmax(), redness.shape)
        assert row < 8 and col < 8
        assert redness[:8, :8].mean() > redness[8:, 8:].mean() + 200
    png = Image.open(tmp_path / "out" / "attention.png")
    assert png.format == "PNG" and png.size[0] > 100 and png.size[1] > 100


@pytest.mark.parametrize(("kind", "message"), [("none", "has no spatial attention"), ("temporal", "not a spatial")])
def test_model_without_spatial_attention_is_refused_by_name(
    kind: str, message: str, frames: Path, cfg: ExperimentConfig, tmp_path: Path
) -> None:
    model = BrightSpot({"action": 3}, attention=kind)
    with pytest.raises(ValueError, match=f"model BrightSpot.*{message}"):
        explain_model(model, cfg, CLASSES, frames, tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def save_checkpoint(cfg: ExperimentConfig, path: Path) -> Path:
    """An untrained but complete egoaction checkpoint of cfg's model (no training needed to explain)."""
    dm = datamodule(cfg)
    model = make_model(cfg, dm.task_spec)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({INFO_KEY: run_info(cfg, dm, model), "state_dict": state}, path)
    return path


def test_cli_explains_an_egornn_checkpoint_and_refuses_tsn(
    synth_root: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = synth_root("gtea61")
    extra = {"data.format": "gtea61", "data.size": 64, "data.resize": 72}
    egornn = load_config(None, tiny_overrides(root, tmp_path, **extra, **{"model.name": "egornn_resnet34"}))
    ckpt = save_checkpoint(egornn, tmp_path / "egornn.ckpt")
    clip = root / "frames" / "S2" / "put_fork" / "1"
    assert main(["explain", str(ckpt), str(clip), "--out", str(tmp_path / "out"), "--frames", "3"]) == 0
    assert "attention.gif" in capsys.readouterr().out
    gif = Image.open(tmp_path / "out" / "attention.gif")
    assert gif.n_frames == 3 and gif.size == (64, 64 + BANNER)
    tsn = save_checkpoint(load_config(None, tiny_overrides(root, tmp_path, **extra)), tmp_path / "tsn.ckpt")
    assert main(["explain", str(tsn), str(clip), "--out", str(tmp_path / "out2")]) == 1
    assert "tsn_resnet18 has no spatial attention" in capsys.readouterr().err
