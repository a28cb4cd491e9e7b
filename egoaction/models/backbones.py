"""2D CNN backbones for frame-level models, and offline pretrained-weight loading.

Weights never download at run time (DESIGN.md §8): ``pretrained="imagenet"`` reads torchvision's
IMAGENET1K_V1 file from the local torch hub cache, where ``torch.hub.load_state_dict_from_url`` would have put
it, and any other string is a path to a ``.pth`` / ``.pt`` state dict.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.ops import stochastic_depth

__all__ = [
    "FRAME_BACKBONES",
    "DropPathHook",
    "add_resnet_drop_path",
    "check_drop_path",
    "efficientnet_backbone",
    "encode_frames",
    "frame_backbone",
    "imagenet_weights_path",
    "load_backbone_weights",
    "read_state_dict",
    "resnet_backbone",
    "split_stages",
    "strip_wrapper_prefixes",
]

_RESNETS: dict[int, tuple[Callable[..., tvm.ResNet], str]] = {
    18: (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1.url),
    34: (tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1.url),
    50: (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1.url),
    101: (tvm.resnet101, tvm.ResNet101_Weights.IMAGENET1K_V1.url),
}
# prefixes that wrappers add to parameter names (DataParallel/DDP "module.", Lightning modules "model.")
_WRAPPERS = ("module.", "model.")
_SHOW = 5


_EFFICIENTNETS: dict[str, tuple[Callable[..., tvm.EfficientNet], str]] = {
    "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1.url),
    "efficientnet_b3": (tvm.efficientnet_b3, tvm.EfficientNet_B3_Weights.IMAGENET1K_V1.url),
}
FRAME_BACKBONES = tuple(f"resnet{d}" for d in _RESNETS) + tuple(_EFFICIENTNETS)


def _load_pretrained(net: nn.Module, pretrained: str | None, url: str) -> None:
    """Load ``"imagenet"`` (local torch hub cache only) or a state-dict path into ``net``; None leaves it random."""
    if pretrained is not None:
        path = imagenet_weights_path(url) if pretrained == "imagenet" else Path(pretrained)
        load_backbone_weights(net, read_state_dict(path), source=path)


def resnet_backbone(depth: int, *, pretrained: str | None = None, drop_path: float = 0.0) -> tuple[tvm.ResNet, int]:
    """A torchvision ResNet whose fc is Identity, so it maps (N, 3, H, W) -> (N, D), and D (512 or 2048).

    ``pretrained``: None (random init), ``"imagenet"`` (local torch hub cache only) or a path to a state dict.
    ``drop_path``: stochastic-depth rate of the last residual block (see :func:`add_resnet_drop_path`).
    """
    if depth not in _RESNETS:
        raise ValueError(f"ResNet depth must be one of {sorted(_RESNETS)}, got {depth!r}")
    build, url = _RESNETS[depth]
    net = build(weights=None)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    _load_pretrained(net, pretrained, url)
    add_resnet_drop_path(net, drop_path)
    return net, dim


def efficientnet_backbone(
    name: str = "efficientnet_b3", *, pretrained: str | None = None, drop_path: float = 0.2
) -> tuple[tvm.EfficientNet, int]:
    """A torchvision EfficientNet without its classifier: (N, 3, H, W) -> (N, D), D = 1536 for B3.

    ``drop_path`` is torchvision's ``stochastic_depth_prob`` (linearly increasing over the MBConv blocks;
    torchvision's own default is 0.2 for B0-B3).
    """
    if name not in _EFFICIENTNETS:
        raise ValueError(f"EfficientNet must be one of {sorted(_EFFICIENTNETS)}, got {name!r}")
    check_drop_path(drop_path)
    build, url = _EFFICIENTNETS[name]
    net = build(weights=None, stochastic_depth_prob=drop_path)
    linear = net.classifier[-1]
    assert isinstance(linear, nn.Linear)
    dim = linear.in_features
    net.classifier = nn.Identity()
    _load_pretrained(net, pretrained, url)
    return net, dim


def frame_backbone(arch: str, *, pretrained: str | None = None, drop_path: float = 0.0) -> tuple[nn.Module, int]:
    """A 2D image backbone by name ("resnet18/34/50/101", "efficientnet_b0/b3"): (N, 3, H, W) -> (N, D), and D."""
    if arch.startswith("resnet") and arch[6:].isdigit() and int(arch[6:]) in _RESNETS:
        return resnet_backbone(int(arch[6:]), pretrained=pretrained, drop_path=drop_path)
    if arch in _EFFICIENTNETS:
        return efficientnet_backbone(arch, pretrained=pretrained, drop_path=drop_path)
    raise ValueError(f"unknown frame backbone {arch!r}; choose one of {list(FRAME_BACKBONES)}")


def encode_frames(backbone: nn.Module, rgb: Tensor) -> Tensor:
    """Per-frame features: (B, T, C, H, W) -> (B, T, D), all frames as one (B*T) batch through the 2D CNN."""
    b, t = rgb.shape[:2]
    return backbone(rgb.flatten(0, 1)).unflatten(0, (b, t))


def check_drop_path(rate: float) -> None:
    """ValueError unless ``rate`` is a stochastic-depth rate in [0, 1)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path must be in [0, 1), got {rate!r}")


class DropPathHook:
    """Forward hook on a residual branch's last BatchNorm: drops that branch for a random subset of samples."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def __call__(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        # "row" mode zeroes the whole branch of a sample and rescales the kept ones by 1/(1-p), so the block's
        # expected output is unchanged and eval mode needs no correction
        return stochastic_depth(output, self.rate, "row", module.training)


def add_resnet_drop_path(net: nn.Module, rate: float) -> None:
    """Stochastic depth (Huang et al. 2016) on every residual block of a torchvision-style ResNet.

    The rate grows linearly from 0 at the first block to ``rate`` at the last, as in timm and the paper's linear
    decay rule. It is applied by a forward hook on each block's last BatchNorm (bn2 of a BasicBlock, bn3 of a
    Bottleneck), so parameter names, and hence pretrained weights, are unchanged.
    """
    check_drop_path(rate)
    if rate == 0.0:
        return
    blocks = [m for m in net.modules() if isinstance(m, tvm.resnet.BasicBlock | tvm.resnet.Bottleneck)]
    for i, block in enumerate(blocks):
        last_bn = block.bn3 if isinstance(block, tvm.resnet.Bottleneck) else block.bn2
        last_bn.register_forward_hook(DropPathHook(rate * i / max(len(blocks) - 1, 1)))


def imagenet_weights_path(url: str) -> Path:
    """The cached weights file for ``url``; FileNotFoundError saying where to put it if it is not there."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
    if not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights not found at {path}; egoaction never downloads at run time. On a machine with "
            f"network, fetch {url} and copy it to {path} (or point TORCH_HOME at a folder whose hub/checkpoints/ "
            "holds it), or pass pretrained=None"
        )
    return path


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a .pth/.pt file: a state dict, or a dict holding one under "state_dict" or "model"."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist (expected a .pth/.pt state dict)")
    try:
        # weights_only: a weights file must not be able to run code when loaded
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise ValueError(f"{path}: cannot read it as a PyTorch state dict ({err})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), or a dict holding one under 'state_dict'")
    return dict(obj)


def strip_wrapper_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Keys without wrapper prefixes; of a whole-model checkpoint only its ``backbone.`` part is kept."""
    out = {}
    for key, value in state.items():
        while key.startswith(_WRAPPERS):
            key = key.split(".", 1)[1]
        out[key] = value
    if any(k.startswith("backbone.") for k in out):
        out = {k.removeprefix("backbone."): v for k, v in out.items() if k.startswith("backbone.")}
    return out


def load_backbone_weights(net: nn.Module, state: Mapping[str, Tensor], *, source: str | Path) -> None:
    """Copy ``state`` into ``net`` (classifier ``fc.*`` ignored); ValueError naming bad keys and ``source``."""
    state = {k: v for k, v in strip_wrapper_prefixes(state).items() if not k.startswith("fc.")}
    expected = net.state_dict()
    # checkpoints saved before BatchNorm counted its batches lack these counters; they are not weights
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    problems = [
        f"{what} ({len(keys)}): {keys[:_SHOW]}"
        for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong))
        if keys
    ]
    if problems:
        raise ValueError(f"{source}: weights do not fit {type(net).__name__} backbone; " + "; ".join(problems))
    net.load_state_dict(state, strict=False)


def split_stages(backbone: nn.Module) -> list[nn.Module]:
    """Stages of a backbone from stem to last; ResNet -> [conv1+bn1, layer1, ..., layer4], EfficientNet -> features."""
    if isinstance(backbone, tvm.ResNet):
        stem = nn.ModuleList([backbone.conv1, backbone.bn1])
        return [stem, backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
    if isinstance(backbone, tvm.EfficientNet):
        # stem conv, the seven MBConv stages, the final 1x1 conv
        return list(backbone.features)
    raise NotImplementedError(
        f"no stage split known for a {type(backbone).__name__} backbone; override VideoModel.backbone_stages()"
    )
