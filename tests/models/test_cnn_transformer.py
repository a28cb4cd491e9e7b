"""CNN + Transformer encoder (seed 000): sizes, positional encoding, CLS readout, order sensitivity, bf16 eval."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

import egoaction.models.cnn_transformer  # noqa: F401  (registers the models)
from egoaction.models import count_parameters, create_model
from egoaction.models.cnn_transformer import CNNTransformer, sinusoidal_positions

EPIC = {"verb": 97, "noun": 300}
# backbones without classifier and their feature widths, reference/models.md §10
BACKBONE = {"resnet18": (11_176_512, 512), "resnet50": (23_508_032, 2048), "efficientnet_b3": (10_696_232, 1536)}
NAMES = {
    "resnet18_transformer": "resnet18",
    "resnet50_transformer": "resnet50",
    "efficientnet_b3_transformer": "efficientnet_b3",
}


def encoder_layer_params(d: int, ff: int) -> int:
    """Attention 4d^2 + 4d, FFN 2 d ff + ff + d, two LayerNorms 4d (reference/models.md §10)."""
    return 4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d


def expected_params(arch: str, *, layers: int = 6, d: int = 512, ff: int = 2048) -> int:
    """Backbone + Linear(D -> d) + CLS token + encoder layers + final LayerNorm + EPIC heads on d."""
    backbone, dim = BACKBONE[arch]
    heads = sum((d + 1) * n for n in EPIC.values())
    return backbone + (dim + 1) * d + d + layers * encoder_layer_params(d, ff) + 2 * d + heads


def clip(t: int = 5, size: int = 32, seed: int = 0) -> Tensor:
    return torch.randn(2, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module) -> nn.Module:
    """BatchNorm statistics from one clip, then eval mode.

    A randomly initialised EfficientNet in eval mode (running stats 0/1) maps every frame to ~1e-15, which would
    leave only the positional encoding to tell frames apart; real statistics avoid that.
    """
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one batch sets the statistics exactly
    model.train()({"rgb": clip(4, seed=99)})
    return model.eval()


@pytest.fixture(scope="module")
def epic_models() -> dict[str, CNNTransformer]:
    """Both registered models once, with EPIC-100 heads, BatchNorm statistics from one clip, in eval mode."""
    torch.manual_seed(0)
    models = {}
    for name in NAMES:
        model = create_model(name, EPIC)
        assert isinstance(model, CNNTransformer)
        models[name] = model
        calibrate_batchnorm(model)
    return models


def test_layer_formula_matches_the_reference_table() -> None:
    assert 6 * encoder_layer_params(512, 2048) == 18_914_304


@pytest.mark.parametrize("name", sorted(NAMES))
def test_parameter_counts_with_epic_heads(name: str, epic_models: dict[str, CNNTransformer]) -> None:
    assert count_parameters(epic_models[name]) == expected_params(NAMES[name])


def test_size_kwargs_reach_the_encoder() -> None:
    with torch.device("meta"):
        model = create_model("resnet50_transformer", EPIC, num_layers=2, d_model=256, num_heads=4, ffn_dim=512)
    assert count_parameters(model) == expected_params("resnet50", layers=2, d=256, ff=512)
    assert isinstance(model, CNNTransformer) and len(model.encoder.layers) == 2


def test_sinusoidal_positions_by_hand() -> None:
    pe = sinusoidal_positions(17, 8)
    assert pe.shape == (17, 8) and pe.dtype == torch.float32
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))  # position 0 (the CLS token)
    p = 5
    expected = [f(p / 10000 ** (i / 8)) for i in (0, 2, 4, 6) for f in (math.sin, math.cos)]
    torch.testing.assert_close(pe[p], torch.tensor(expected))
    with pytest.raises(ValueError, match="even width"):
        sinusoidal_positions(4, 7)


@torch.no_grad()
def test_tokens_are_cls_then_projected_frames_plus_positions(epic_models: dict[str, CNNTransformer]) -> None:
    model = epic_models["resnet50_transformer"]
    tokens = model.tokens(clip(3))
    assert tokens.shape == (2, 4, 512)
    pe = sinusoidal_positions(4, 512)
    torch.testing.assert_close(tokens[:, 0], (model.cls_token[0, 0] + pe[0]).expand(2, -1))
    # no parameters: the positions hold for any clip length
    assert not any("pos" in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", sorted(NAMES))
@torch.no_grad()
def test_frame_order_matters_and_eval_is_deterministic(name: str, epic_models: dict[str, CNNTransformer]) -> None:
    model = epic_models[name]
    x = clip()
    out, again = model({"rgb": x}), model({"rgb": x})
    reversed_out = model({"rgb": x.flip(1)})
    assert set(out) == set(EPIC)
    for task, n in EPIC.items():
        assert out[task].shape == (2, n)
        assert torch.equal(out[task], again[task])
        assert not torch.allclose(out[task], reversed_out[task], atol=1e-4)


@torch.no_grad()
def test_output_is_the_cls_token_of_the_encoder(epic_models: dict[str, CNNTransformer]) -> None:
    model = epic_models["resnet50_transformer"]
    x = clip(4)
    encoded = model.encoder(model.tokens(x))
    torch.testing.assert_close(model({"rgb": x})["verb"], model.heads(encoded[:, 0])["verb"])


@torch.no_grad()
def test_bf16_autocast_eval_is_deterministic_and_finite(epic_models: dict[str, CNNTransformer]) -> None:
    model = epic_models["resnet50_transformer"]
    x = clip(8)
    tokens = model.tokens(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, again = model({"rgb": x}), model({"rgb": x})
        encoded = model.encoder(tokens).float()
    for task in EPIC:
        assert torch.isfinite(out[task]).all() and torch.equal(out[task], again[task])
    # the encoder alone stays close to float32 (a random ResNet-50 in bf16 drifts far more than the encoder)
    reference = model.encoder(tokens)
    assert ((encoded - reference).norm() / reference.norm()).item() < 0.05


def test_defaults_follow_the_seed(epic_models: dict[str, CNNTransformer]) -> None:
    model = epic_models["efficientnet_b3_transformer"]
    layer = model.encoder.layers[0]
    assert layer.norm_first and layer.self_attn.num_heads == 8 and layer.linear1.out_features == 2048
    assert isinstance(model.encoder.norm, nn.LayerNorm)
    assert model.heads.dropout == 0.5 and model.input_spec.describe() == "8 x rgb(3) x 224x224"
