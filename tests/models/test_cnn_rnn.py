"""CNN-LSTM (seed 000) and CNN-BiLSTM with temporal attention (seed 003): sizes, order, attention, freezing."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

import egoaction.models.cnn_rnn  # noqa: F401  (registers the models)
from egoaction.models import count_parameters, create_model
from egoaction.models.cnn_rnn import CNNRNN, TemporalAttention

EPIC = {"verb": 97, "noun": 300}
TASKS = {"verb": 4, "noun": 6}
# backbones without classifier, reference/models.md §10
BACKBONE = {"resnet18": 11_176_512, "resnet50": 23_508_032, "efficientnet_b3": 10_696_232}


def lstm_params(inputs: int, hidden: int, layers: int = 1, directions: int = 1) -> int:
    """nn.LSTM: 4h(i + h) + 8h per layer and direction; deeper layers read directions * h."""
    total = 0
    for layer in range(layers):
        i = inputs if layer == 0 else directions * hidden
        total += directions * (4 * hidden * (i + hidden) + 8 * hidden)
    return total


def linear_params(i: int, o: int) -> int:
    return (i + 1) * o


def heads_params(dim: int, tasks: dict[str, int] = EPIC) -> int:
    return sum(linear_params(dim, n) for n in tasks.values())


ATTENTION_512 = 2 * linear_params(512, 256) + linear_params(512, 512)
EXPECTED = {
    "resnet50_lstm": BACKBONE["resnet50"] + lstm_params(2048, 512, 2) + heads_params(512),
    "efficientnet_b3_lstm": BACKBONE["efficientnet_b3"] + lstm_params(1536, 512, 2) + heads_params(512),
    "resnet18_bilstm_attn": BACKBONE["resnet18"] + lstm_params(512, 256, 1, 2) + ATTENTION_512 + heads_params(512),
    "resnet18_lstm": BACKBONE["resnet18"] + lstm_params(512, 512, 2) + heads_params(512),
}


def clip(t: int = 5, size: int = 32, seed: int = 0) -> Tensor:
    return torch.randn(2, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module) -> nn.Module:
    """BatchNorm statistics from one clip, then eval mode.

    A randomly initialised EfficientNet in eval mode (running stats 0/1) maps every frame to ~1e-15, which would
    make any temporal model trivially order-blind; real (pretrained or trained) statistics avoid that.
    """
    for bn in model.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one batch sets the statistics exactly
    model.train()({"rgb": clip(4, seed=99)})
    return model.eval()


@pytest.fixture(scope="module")
def epic_models() -> dict[str, CNNRNN]:
    """Each registered model once, with EPIC-100 heads, BatchNorm statistics from one clip, in eval mode."""
    torch.manual_seed(0)
    models = {}
    for name in EXPECTED:
        model = create_model(name, EPIC)
        assert isinstance(model, CNNRNN)
        models[name] = model
        calibrate_batchnorm(model)
    return models


def test_formulas_match_the_reference_table() -> None:
    # reference/models.md §10: LSTM(2048 -> 512, 2 layers) and LSTM(1536 -> 512, 2 layers), heads on 512
    assert lstm_params(2048, 512, 2) == 7_348_224 and lstm_params(1536, 512, 2) == 6_299_648
    assert heads_params(512) == 203_661


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts_with_epic_heads(name: str, epic_models: dict[str, CNNRNN]) -> None:
    assert count_parameters(epic_models[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
@torch.no_grad()
def test_frame_order_matters_and_eval_is_deterministic(name: str, epic_models: dict[str, CNNRNN]) -> None:
    model = epic_models[name]
    x = clip()
    out, again = model({"rgb": x}), model({"rgb": x})
    reversed_out = model({"rgb": x.flip(1)})
    for task in EPIC:
        assert out[task].shape == (2, EPIC[task])
        assert torch.equal(out[task], again[task])
        assert not torch.allclose(out[task], reversed_out[task], atol=1e-4)


@torch.no_grad()
def test_last_readout_is_the_top_layer_output_at_the_last_step(epic_models: dict[str, CNNRNN]) -> None:
    model = epic_models["resnet50_lstm"]
    x = clip(4)
    seq, final = model.sequence(x)
    assert seq.shape == (2, 4, 512)
    torch.testing.assert_close(final, seq[:, -1])
    torch.testing.assert_close(model({"rgb": x})["verb"], model.heads(seq[:, -1])["verb"])


@torch.no_grad()
def test_mean_readout_averages_over_time_and_differs_from_last(epic_models: dict[str, CNNRNN]) -> None:
    last = epic_models["resnet50_lstm"]
    mean = create_model("resnet50_lstm", EPIC, readout="mean").eval()
    assert isinstance(mean, CNNRNN)
    mean.load_state_dict(last.state_dict())
    x = clip(4)
    out_mean, out_last = mean({"rgb": x}), last({"rgb": x})
    assert not torch.allclose(out_mean["noun"], out_last["noun"], atol=1e-4)
    seq, _ = mean.sequence(x)
    torch.testing.assert_close(out_mean["noun"], mean.heads(seq.mean(dim=1))["noun"])


def test_bad_readout_raises() -> None:
    with pytest.raises(ValueError, match="readout must be one of"):
        CNNRNN(TASKS, arch="resnet18", readout="first")
    with pytest.raises(ValueError, match="use readout='mean'"):
        CNNRNN(TASKS, arch="resnet18", attention_dim=8, readout="last")


@torch.no_grad()
def test_bidirectional_last_readout_joins_both_directions_final_states() -> None:
    torch.manual_seed(0)
    model = CNNRNN(TASKS, arch="resnet18", lstm_hidden=16, lstm_layers=2, bidirectional=True).eval()
    seq, final = model.sequence(clip(3))
    # forward direction ends at the last step, backward direction at the first
    torch.testing.assert_close(final, torch.cat([seq[:, -1, :16], seq[:, 0, 16:]], dim=1))


@torch.no_grad()
def test_attention_weights_are_a_softmax_over_time(epic_models: dict[str, CNNRNN]) -> None:
    out = epic_models["resnet18_bilstm_attn"]({"rgb": clip(6)})
    weights = out["attention"]
    assert weights.shape == (2, 6, 6)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 6))


@torch.no_grad()
def test_temporal_attention_is_scaled_dot_product_attention() -> None:
    torch.manual_seed(0)
    attn = TemporalAttention(8, attention_dim=4)
    x = torch.randn(2, 5, 8)
    q, k, v = attn.query(x), attn.key(x), attn.value(x)
    expected = torch.softmax(q @ k.transpose(1, 2) / 2.0, dim=-1)  # sqrt(attention_dim) = 2
    attended, weights = attn(x)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(attended, expected @ v)
    assert attended.shape == (2, 5, 8)


@torch.no_grad()
def test_without_attention_the_lstm_outputs_are_averaged() -> None:
    torch.manual_seed(0)
    model = create_model("resnet18_bilstm_attn", EPIC, use_attention=False).eval()
    assert isinstance(model, CNNRNN) and model.attention is None
    assert not any(k in n.split(".") for n, _ in model.named_parameters() for k in ("attention", "query", "value"))
    assert count_parameters(model) == EXPECTED["resnet18_bilstm_attn"] - ATTENTION_512
    x = clip(4)
    out = model({"rgb": x})
    assert set(out) == set(EPIC)
    seq, _ = model.sequence(x)
    torch.testing.assert_close(out["verb"], model.heads(seq.mean(dim=1))["verb"])


def test_unidirectional_ablation_halves_the_lstm_width() -> None:
    with torch.device("meta"):
        model = create_model("resnet18_bilstm_attn", EPIC, bidirectional=False)
    assert isinstance(model, CNNRNN) and not model.lstm.bidirectional
    assert model.heads.dim == 256
    attention_256 = 2 * linear_params(256, 256) + linear_params(256, 256)
    expected = BACKBONE["resnet18"] + lstm_params(512, 256) + attention_256 + heads_params(256)
    assert count_parameters(model) == expected


def test_finetune_layers_freeze_every_other_backbone_stage() -> None:
    torch.manual_seed(0)
    model = create_model("resnet18_bilstm_attn", TASKS, finetune_layers=["layer3", "layer4"])
    model.train()
    out = model({"rgb": clip(3)})
    loss = sum(nn.functional.cross_entropy(out[t], torch.tensor([0, 1])) for t in TASKS)
    assert isinstance(loss, Tensor)
    loss.backward()
    frozen_prefixes = ("backbone.conv1.", "backbone.bn1.", "backbone.layer1.", "backbone.layer2.")
    for name, p in model.named_parameters():
        if name.startswith(frozen_prefixes):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0, name
    trainable = count_parameters(model, trainable_only=True)
    stages = model.backbone_stages()
    assert trainable == count_parameters(model) - sum(count_parameters(s) for s in stages[:3])


def test_finetune_layers_default_trains_the_whole_backbone() -> None:
    with torch.device("meta"):
        model = create_model("resnet18_bilstm_attn", TASKS)
    assert all(p.requires_grad for p in model.parameters())


def test_unknown_finetune_layer_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"\['layer5'\].*\['stem', 'layer1', 'layer2', 'layer3', 'layer4'\]"):
        create_model("resnet18_bilstm_attn", TASKS, finetune_layers=["layer4", "layer5"])


def test_input_specs_follow_the_seeds(epic_models: dict[str, CNNRNN]) -> None:
    assert epic_models["resnet18_bilstm_attn"].input_spec.describe() == "16 x rgb(3) x 144x144"
    assert epic_models["resnet50_lstm"].input_spec.describe() == "8 x rgb(3) x 224x224"
    assert epic_models["resnet18_bilstm_attn"].heads.dropout == 0.3


def test_efficientnet_drop_path_default_is_torchvisions() -> None:
    with torch.device("meta"):
        model = create_model("efficientnet_b3_lstm", TASKS, lstm_hidden=8, lstm_layers=1)
    assert isinstance(model, CNNRNN)
    rates = [m.p for m in model.backbone.modules() if isinstance(m, StochasticDepth)]
    assert rates and max(rates) == pytest.approx(0.2 * (len(rates) - 1) / len(rates))
    assert model.lstm.hidden_size == 8 and model.lstm.num_layers == 1
