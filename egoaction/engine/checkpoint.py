"""Self-describing checkpoints: written atomically, loadable into a model without the config or the dataset.

A checkpoint is Lightning's dict plus an ``egoaction`` entry holding the model name and kwargs, the task spec, the
class names, the data settings a predictor needs (frame count, size, normalisation), the resolved config and the code
version. ``load_model`` rebuilds the network from that entry alone.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

import egoaction
from egoaction.atomic import atomic_path
from egoaction.data.errors import DataError

INFO_KEY = "egoaction"
FORMAT_VERSION = 1


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder and renames it, so a kill never leaves half
    a checkpoint behind (Lightning's own writer opens the final path directly)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        save_atomic(checkpoint, Path(path))


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then rename over it."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def code_version() -> str:
    """egoaction's version plus the git commit of the source tree when it is a checkout."""
    version = egoaction.__version__
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(egoaction.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return f"{version}+g{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return version


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file, or the best (else last) checkpoint of a run directory; a clear error when none exists."""
    path = Path(target)
    if path.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            candidate = path / "checkpoints" / name
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"{path} is a directory without checkpoints/best.ckpt or checkpoints/last.ckpt")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (expected a .ckpt file or a run directory)")
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU; an unreadable or foreign file is a DataError naming it."""
    path = resolve_checkpoint(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(f"{path}: cannot read checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict) or INFO_KEY not in ckpt or "state_dict" not in ckpt:
        raise DataError(f"{path}: not an egoaction checkpoint (no '{INFO_KEY}' description or no 'state_dict')")
    return ckpt


def model_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The network's weights from a checkpoint (the LightningModule's ``model.`` prefix removed)."""
    prefix = "model."
    return {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}


def build_model(info: dict[str, Any]) -> nn.Module:
    """Rebuild the network a checkpoint describes (weights not loaded; no pretrained file needed)."""
    from egoaction.models import create_model

    kwargs = dict(info["model"]["kwargs"])
    for key in kwargs:
        # the checkpoint carries the weights: no ImageNet file nor a two-stream model's stream checkpoints needed
        if key == "pretrained" or key.endswith("_checkpoint"):
            kwargs[key] = None
    return create_model(info["model"]["name"], info["task_spec"], **kwargs)


def load_model(target: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The trained network of a checkpoint file or run directory, in eval mode, and its description."""
    path = resolve_checkpoint(target)
    ckpt = read_checkpoint(path)
    info = dict(ckpt[INFO_KEY])
    info["path"] = str(path)
    model = build_model(info)
    model.load_state_dict(model_state(ckpt))
    return model.eval(), info


def init_from(model: nn.Module, target: str | Path) -> list[str]:
    """Copy the weights of a checkpoint (or plain state dict) into ``model`` where names and shapes match.

    Used to start stage 2 from stage 1, or a run from weights trained elsewhere: a file that is not a ``.ckpt``
    is read as a plain state dict (safely: tensors only). Returns the model's keys left at their initial values;
    raises when no weight at all matches, which means the wrong file."""
    from egoaction.models.backbones import read_state_dict

    path = resolve_checkpoint(target)
    source = model_state(read_checkpoint(path)) if path.suffix == ".ckpt" else read_state_dict(path)
    own = model.state_dict()
    matched = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not matched:
        raise DataError(f"{path}: no weight matches the model (first keys: {', '.join(list(source)[:3])})")
    own.update(matched)
    model.load_state_dict(own)
    return sorted(set(own) - set(matched))
