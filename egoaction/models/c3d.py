"""C3D and Pseudo-3D ResNets: 3D CNNs written out layer by layer (no torchvision builder exists for either).

C3D: Tran et al., "Learning Spatiotemporal Features with 3D Convolutional Networks", ICCV 2015, in the layout of
reference/models.md §7.2: eight 3x3x3 convolutions (stride 1, padding 1, ReLU), max pools 1x2x2 then 2x2x2, fc6
and fc7 of 4096 units, fc8 = the task heads. Choices:

- Names follow the PyTorch ports of the Sports-1M weights (conv1, conv2, conv3a ... conv5b, fc6, fc7; the
  paper's conv1a / conv2a are conv1 / conv2), so such a file loads with ``pretrained=path`` (fc8 is ignored).
  The convolutions are ``self.backbone``; fc6 / fc7 are ``self.fc`` (outside the backbone, so the engine's
  backbone learning rate and ``freeze_stages`` only touch the convolutions).
- Dropout: 0.5 after fc6 (fixed), and the heads' ``dropout`` (default 0.5) is Caffe's drop7 after fc7.
- Pools 2-4 round up (``ceil_mode``, as Caffe does), so short clips (T = 4 leaves 1 frame after pool3) still
  work; at 16x112x112 every size entering them is even and nothing changes.
- pool5: the ports pad H and W by 1 so that 512x2x7x7 becomes 512x1x4x4 = 8192 (Caffe rounds the window grid up
  instead). Here pool5 repeats the first row and column (edge padding, which never wins a max over a window that
  also holds the original) and then max-pools adaptively to 1x4x4: at 2x7x7 that is exactly the ports' 2x2x2
  pool with padding (0, 1, 1), and for any other clip it still gives the 8192 inputs fc6 expects.
- He-normal initialisation of the convolutions: without BatchNorm, an 8-layer stack with PyTorch's default init
  shrinks the signal layer by layer when trained from scratch.
- ``batch_norm=True`` (not in the paper; MMAction2's C3D offers the same through its ``norm_cfg``) puts a
  BatchNorm3d between every convolution and its ReLU and drops the convolutions' biases. From scratch on a small
  dataset the plain network can settle on one class for every clip (the zoo benchmark, docs/models.md); weights
  of the BN-less ports do not load into it.
- 79,991,015 parameters with 487 classes (Sports-1M), 78,409,573 with 101 (UCF101). input_spec 16x112x112.

P3D: Qiu, Yao, Mei, "Learning Spatio-Temporal Representation with Pseudo-3D Residual Networks", ICCV 2017
(reference §7.3). A ResNet bottleneck whose 3x3 convolution becomes S = 1x3x3 and T = 3x1x1 (each conv + BN +
ReLU), arranged as P3D-A: T(S(h)), P3D-B: S(h) + T(h), P3D-C: S(h) + T(S(h)), with h the output of the first
1x1x1 reduction; a final 1x1x1 expansion (BN, no ReLU) joins the shortcut. ``variant="cycle"`` repeats A, B, C
over all blocks of the network in order, as the paper does. Choices:

- Depth 50 ([3, 4, 6, 3] bottlenecks, 2048-d), 101 or 152. The paper builds P3D ResNet from ResNet-152.
- Stem: a 1x7x7 convolution with stride (1, 2, 2), BN, ReLU, then a 1x3x3 max pool with stride (1, 2, 2).
- No temporal striding anywhere: every stage keeps all T frames. It keeps the model valid for any T >= 1
  and lets the T convolutions of late stages see frame-level order, at the price of more FLOPs than the
  authors' network (which pools time).
- Spatial downsampling: stride (1, 2, 2) on the first 1x1x1 convolution of the first block of layers 2-4 (the
  original ResNet / Caffe ResNet-152 convention the paper starts from). Striding S instead would leave B's
  parallel T branch at the old resolution; this way all three variants see the same grid.
- ``drop_path``: stochastic depth on the residual branch, linear from 0 at the first block to ``drop_path``.
- No published PyTorch weights: ``pretrained`` is None or a path. input_spec 16x160x160 (the paper's clips).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import stochastic_depth

from egoaction.models._registry import register_model
from egoaction.models.backbones import check_drop_path, load_backbone_weights, read_state_dict
from egoaction.models.base import InputSpec, VideoModel
from egoaction.models.heads import TaskHeads

__all__ = ["C3D", "P3D", "C3DFeatures", "P3DBlock", "P3DResNet", "c3d_pool5"]

# (name, input channels, output channels) of C3D's convolutions, grouped by the pool that follows them
_C3D_CONVS = (
    (("conv1", 3, 64),),
    (("conv2", 64, 128),),
    (("conv3a", 128, 256), ("conv3b", 256, 256)),
    (("conv4a", 256, 512), ("conv4b", 512, 512)),
    (("conv5a", 512, 512), ("conv5b", 512, 512)),
)
_P3D_LAYERS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
_WRAPPERS = ("module.", "model.")


def _c3d_key(key: str) -> str | None:
    """Where a C3D weight goes in {"conv": backbone, "mlp": fc}, or None for a classifier (heads / fc8) weight."""
    # "conv." / "mlp." because load_backbone_weights treats "backbone." and "fc." keys specially
    while key.startswith(_WRAPPERS):
        key = key.split(".", 1)[1]
    if key.startswith(("heads.", "fc8.")):
        return None
    if key.startswith("fc."):
        return "mlp." + key.removeprefix("fc.")
    if key.startswith(("fc6.", "fc7.")):
        return "mlp." + key
    return "conv." + key.removeprefix("backbone.")


def _reject_named_weights(name: str, pretrained: str | None) -> None:
    """ValueError for ``"imagenet"`` / ``"kinetics"``: these models have no published weights in the cache."""
    if pretrained in ("imagenet", "kinetics"):
        raise ValueError(f"{name} has no published {pretrained} weights; pass pretrained=None or a state-dict path")


def c3d_pool5(x: Tensor) -> Tensor:
    """C3D's pool5: (N, C, T, H, W) -> (N, C, 1, 4, 4); at (2, 7, 7) equal to MaxPool3d(2, 2, padding=(0, 1, 1))."""
    # replicate rather than -inf padding: a repeated edge value never changes a max, and no window is all padding
    padded = F.pad(x, (1, 0, 1, 0, 0, 0), mode="replicate")
    return F.adaptive_max_pool3d(padded, (1, 4, 4))


class C3DFeatures(nn.Module):
    """C3D's eight 3x3x3 convolutions and five pools: (B, 3, T, H, W) -> pool5 features (B, 8192).

    ``batch_norm`` puts a BatchNorm3d (``<conv>_bn``) between each convolution and its ReLU, and drops the
    convolutions' biases."""

    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        self.batch_norm = batch_norm
        for group in _C3D_CONVS:
            for name, cin, cout in group:
                self.add_module(name, nn.Conv3d(cin, cout, kernel_size=3, padding=1, bias=not batch_norm))
                if batch_norm:
                    self.add_module(f"{name}_bn", nn.BatchNorm3d(cout))
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.pools = nn.ModuleList(nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True) for _ in range(3))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _layers(self, name: str) -> list[nn.Module]:
        """The convolution called ``name`` and, with ``batch_norm``, its BatchNorm."""
        return [getattr(self, name), *([getattr(self, f"{name}_bn")] if self.batch_norm else [])]

    def groups(self) -> list[nn.ModuleList]:
        """The layers before each pool: [conv1], [conv2], [conv3a, conv3b], ... (each with its BatchNorm, if any)."""
        return [nn.ModuleList(m for name, _, _ in group for m in self._layers(name)) for group in _C3D_CONVS]

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, 8192)."""
        pools: list[Callable[[Tensor], Tensor]] = [self.pool1, *self.pools, c3d_pool5]
        for group, pool in zip(_C3D_CONVS, pools):
            for name, _, _ in group:
                for layer in self._layers(name):
                    x = layer(x)
                x = F.relu(x, inplace=True)
            x = pool(x)
        return x.flatten(1)


class C3D(VideoModel):
    """C3D: conv features (B, 8192) -> fc6 -> fc7 (4096) -> dropout -> heads; rgb (B, T, 3, H, W) -> {task: (B, C)}."""

    backbone: C3DFeatures
    input_spec = InputSpec(frames=16, size=(112, 112))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        pretrained: str | None = None,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        _reject_named_weights("c3d", pretrained)
        self.backbone = C3DFeatures(batch_norm)
        self.fc = nn.Sequential(
            OrderedDict(
                fc6=nn.Linear(8192, 4096),
                relu6=nn.ReLU(inplace=True),
                drop6=nn.Dropout(0.5),
                fc7=nn.Linear(4096, 4096),
                relu7=nn.ReLU(inplace=True),
            )
        )
        self.heads = TaskHeads(4096, self.task_spec, dropout=dropout)
        if pretrained is not None:
            self.load_weights(pretrained)

    def load_weights(self, path: str) -> None:
        """Load conv and fc6/fc7 weights from a state dict: ours, or a port's flat conv1 ... fc7 (fc8 ignored)."""
        state = {}
        for key, value in read_state_dict(path).items():
            target = _c3d_key(key)
            if target is not None:
                state[target] = value
        load_backbone_weights(nn.ModuleDict({"conv": self.backbone, "mlp": self.fc}), state, source=path)

    def backbone_stages(self) -> list[nn.Module]:
        """The five conv groups, each ending in a pool."""
        return list(self.backbone.groups())

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task, (B, C)."""
        rgb = self.read_input(batch, "rgb")
        return self.heads(self.fc(self.backbone(rgb.transpose(1, 2))))


def _conv_bn(cin: int, cout: int, kernel: tuple[int, int, int], *, stride: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv3d (no bias, 'same' padding, spatial stride) + BatchNorm3d (+ ReLU): (N, cin, T, H, W) -> (N, cout, ...)."""
    padding = (kernel[0] // 2, kernel[1] // 2, kernel[2] // 2)
    layers: list[nn.Module] = [
        nn.Conv3d(cin, cout, kernel, stride=(1, stride, stride), padding=padding, bias=False),
        nn.BatchNorm3d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class P3DBlock(nn.Module):
    """P3D bottleneck, variant "A", "B" or "C": (N, inplanes, T, H, W) -> (N, 4 * planes, T, H / stride, W / stride)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, variant: str, *, stride: int = 1, drop_path: float = 0.0) -> None:
        super().__init__()
        if variant not in ("A", "B", "C"):
            raise ValueError(f"P3D block variant must be 'A', 'B' or 'C', got {variant!r}")
        self.variant = variant
        self.drop_path = drop_path
        out = planes * self.expansion
        self.reduce = _conv_bn(inplanes, planes, (1, 1, 1), stride=stride)
        self.spatial = _conv_bn(planes, planes, (1, 3, 3))
        self.temporal = _conv_bn(planes, planes, (3, 1, 1))
        self.expand = _conv_bn(planes, out, (1, 1, 1), relu=False)
        self.shortcut = (
            _conv_bn(inplanes, out, (1, 1, 1), stride=stride, relu=False) if stride > 1 or inplanes != out else None
        )

    def mix(self, h: Tensor) -> Tensor:
        """The variant's S/T combination of the reduced input h: A T(S(h)), B S(h) + T(h), C S(h) + T(S(h))."""
        if self.variant == "B":
            return self.spatial(h) + self.temporal(h)
        s = self.spatial(h)
        return self.temporal(s) if self.variant == "A" else s + self.temporal(s)

    def forward(self, x: Tensor) -> Tensor:
        """ReLU(shortcut(x) + drop_path(expand(mix(reduce(x)))))."""
        branch = stochastic_depth(self.expand(self.mix(self.reduce(x))), self.drop_path, "row", self.training)
        return F.relu(branch + (x if self.shortcut is None else self.shortcut(x)))

    def extra_repr(self) -> str:
        """Variant and drop-path rate, shown in ``print(model)``."""
        return f"variant={self.variant}, drop_path={self.drop_path:g}"


class P3DResNet(nn.Module):
    """P3D ResNet backbone: (B, 3, T, H, W) -> (B, 2048), global average over time and space."""

    def __init__(self, depth: int = 50, variant: str = "cycle", drop_path: float = 0.0) -> None:
        super().__init__()
        if depth not in _P3D_LAYERS:
            raise ValueError(f"P3D depth must be one of {sorted(_P3D_LAYERS)}, got {depth!r}")
        if variant not in ("A", "B", "C", "cycle"):
            raise ValueError(f"P3D variant must be 'A', 'B', 'C' or 'cycle', got {variant!r}")
        check_drop_path(drop_path)
        layers = _P3D_LAYERS[depth]
        n = sum(layers)
        variants = ["ABC"[i % 3] if variant == "cycle" else variant for i in range(n)]
        rates = [drop_path * i / max(n - 1, 1) for i in range(n)]
        self.stem = nn.Sequential(
            _conv_bn(3, 64, (1, 7, 7), stride=2),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        inplanes, i = 64, 0
        for stage, blocks in enumerate(layers):
            planes = 64 * 2**stage
            stage_blocks = []
            for b in range(blocks):
                stride = 2 if b == 0 and stage > 0 else 1
                stage_blocks.append(P3DBlock(inplanes, planes, variants[i], stride=stride, drop_path=rates[i]))
                inplanes, i = planes * P3DBlock.expansion, i + 1
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.dim = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[nn.Module]:
        """stem, layer1 ... layer4."""
        return [self.stem, *(getattr(self, f"layer{k}") for k in range(1, 5))]

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, T, H, W) -> (B, 2048)."""
        for stage in self.stages():
            x = stage(x)
        return x.mean(dim=(2, 3, 4))


class P3D(VideoModel):
    """P3D ResNet -> dropout -> heads: rgb (B, T, 3, H, W) -> {task: (B, C)}."""

    backbone: P3DResNet
    input_spec = InputSpec(frames=16, size=(160, 160))

    def __init__(
        self,
        task_spec: dict[str, int],
        *,
        depth: int = 50,
        variant: str = "cycle",
        pretrained: str | None = None,
        dropout: float = 0.5,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__(task_spec, modalities=("rgb",))
        _reject_named_weights("p3d", pretrained)
        self.backbone = P3DResNet(depth, variant, drop_path)
        self.heads = TaskHeads(self.backbone.dim, self.task_spec, dropout=dropout)
        if pretrained is not None:
            load_backbone_weights(self.backbone, read_state_dict(pretrained), source=pretrained)

    def backbone_stages(self) -> list[nn.Module]:
        """stem, layer1 ... layer4."""
        return self.backbone.stages()

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task, (B, C)."""
        return self.heads(self.backbone(self.read_input(batch, "rgb").transpose(1, 2)))


@register_model("c3d")
def c3d(
    task_spec: dict[str, int], *, pretrained: str | None = None, dropout: float = 0.5, batch_norm: bool = False
) -> C3D:
    """C3D (Tran et al. 2015): 8 conv3x3x3 + fc6/fc7 4096, 16x112x112 clips; pretrained None or a path;
    ``batch_norm`` adds BatchNorm after every convolution (not in the paper)."""
    return C3D(task_spec, pretrained=pretrained, dropout=dropout, batch_norm=batch_norm)


@register_model("p3d")
def p3d(
    task_spec: dict[str, int],
    *,
    variant: str = "cycle",
    depth: int = 50,
    pretrained: str | None = None,
    dropout: float = 0.5,
    drop_path: float = 0.0,
) -> P3D:
    """Pseudo-3D ResNet (Qiu et al. 2017), blocks A/B/C or the A-B-C cycle, depth 50/101/152, 16x160x160 clips."""
    return P3D(task_spec, depth=depth, variant=variant, pretrained=pretrained, dropout=dropout, drop_path=drop_path)
