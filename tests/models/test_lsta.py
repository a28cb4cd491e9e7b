"""LSTA: the cell's equations, attention maps, output pooling, gradients, noBN features, stages and size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from egoaction.models import count_parameters, create_model, set_batchnorm_mode
from egoaction.models.lsta import ATTENTION_GATES, LSTA, MEMORY_GATES, LSTACell, LSTAState, attention_saliency

TASKS = {"verb": 3, "noun": 4}
CELL = [
    "cell.attention_state_conv.weight",
    "cell.attention_state_conv.bias",
    "cell.attention_saliency_conv.weight",
    "cell.input_conv.weight",
    "cell.input_conv.bias",
    "cell.hidden_conv.weight",
    "cell.pooled_conv.weight",
    "cell.pooled_conv.bias",
    "cell.memory_dictionary.weight",
]
HEADS = [f"heads.{t}.{p}" for t in TASKS for p in ("weight", "bias")]
STAGE1 = set(CELL + HEADS)
LAYER4 = {f"backbone.layer4.{i}.conv{j}.weight" for i in range(3) for j in (1, 2)}
STAGE2 = STAGE1 | LAYER4 | {"backbone.fc.weight"}


def lsta(**kwargs: object) -> LSTA:
    """A small-memory LSTA (cell 512 -> 16, 5 pooling classes) with seed 0; the backbone is the real ResNet-34."""
    torch.manual_seed(0)
    model = create_model("lsta_resnet34", TASKS, **{"memory": 16, "pool_size": 5, **kwargs})
    assert isinstance(model, LSTA)
    return model


def clip(b: int = 2, t: int = 3, size: int = 64, seed: int = 0) -> Tensor:
    return torch.randn(b, t, 3, size, size, generator=torch.Generator().manual_seed(seed))


def trainable(model: nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def random_state(cell: LSTACell, b: int, h: int, w: int) -> LSTAState:
    gen = torch.Generator().manual_seed(1)
    a, s = torch.randn(2, b, 1, h, w, generator=gen)
    c = torch.randn(b, cell.memory, h, w, generator=gen)
    o = torch.rand(b, cell.memory, h, w, generator=gen)
    return LSTAState(a, s, c, o)


def block(x: Tensor, conv: nn.Conv2d, k: int, n: int) -> Tensor:
    """Gate k of a fused conv: rows k*n..(k+1)*n of its weight (and bias) applied to x."""
    rows = slice(k * n, (k + 1) * n)
    return F.conv2d(x, conv.weight[rows], None if conv.bias is None else conv.bias[rows], padding=1)


def reference_step(cell: LSTACell, x: Tensor, m: Tensor, st: LSTAState) -> tuple[LSTAState, Tensor]:
    """models.md §3.2-3.3 written out gate by gate from slices of the fused weights."""
    att = {
        g: block(st.s, cell.attention_state_conv, k, 1) + block(m, cell.attention_saliency_conv, k, 1)
        for k, g in enumerate(ATTENTION_GATES)
    }
    a = torch.sigmoid(att["f"]) * st.a + torch.sigmoid(att["i"]) * torch.tanh(att["a"])
    s = torch.sigmoid(att["o"]) * torch.tanh(a)
    alpha = torch.softmax((s + m).flatten(1), dim=1).view_as(s)
    xt, h, n = alpha * x, st.o * torch.tanh(st.c), cell.memory
    pre = {
        g: block(xt, cell.input_conv, k, n) + block(h, cell.hidden_conv, k, n) for k, g in enumerate(MEMORY_GATES[:3])
    }
    c = torch.sigmoid(pre["f"]) * st.c + torch.sigmoid(pre["i"]) * torch.tanh(pre["c"])
    w_c, w_cp = cell.memory_dictionary.weight, cell.input_dictionary.weight
    scores = c.mean(dim=(2, 3)) @ w_c.T + xt.mean(dim=(2, 3)) @ w_cp.T
    pooled = w_c[scores.argmax(dim=1)][:, :, None, None] * c
    o = torch.sigmoid(block(h, cell.hidden_conv, 3, n) + block(pooled, cell.pooled_conv, 0, n))
    return LSTAState(a, s, c, o), alpha.squeeze(1)


def test_parameter_count_matches_models_md() -> None:
    with torch.device("meta"):
        cell = LSTACell()
        model = create_model("lsta_resnet34", {"action": 61})
    attention = count_parameters(cell.attention_state_conv) + count_parameters(cell.attention_saliency_conv)
    memory = sum(count_parameters(m) for m in (cell.input_conv, cell.hidden_conv, cell.pooled_conv))
    dictionaries = count_parameters(cell.memory_dictionary) + count_parameters(cell.input_dictionary)
    # models.md §3: 8 convs 512 -> 512 (3x3) + 4 x 512 biases; 8 convs 1 -> 1 (3x3) + 4 biases; 2 x 100 x 512
    assert memory == 8 * 512 * 512 * 9 + 4 * 512 == 18_876_416
    assert attention == 8 * 9 + 4 == 76
    assert dictionaries == 2 * 100 * 512 == 102_400
    assert count_parameters(cell) == 18_978_892
    # ResNet-34 with its ImageNet fc + cell + fc61
    assert count_parameters(model) == 21_797_672 + 18_978_892 + 512 * 61 + 61 == 40_807_857


def test_gate_and_state_shapes() -> None:
    cell = LSTACell(5, 6, pool_size=4)
    assert cell.attention_state_conv.weight.shape == (4, 1, 3, 3) and cell.attention_saliency_conv.bias is None
    assert cell.hidden_conv.bias is None and cell.pooled_conv.weight.shape == (6, 6, 3, 3)
    assert cell.memory_dictionary.weight.shape == (4, 6) and cell.input_dictionary.weight.shape == (4, 5)
    x, m = torch.randn(2, 5, 3, 4), torch.randn(2, 1, 3, 4)
    state = cell.initial_state(x)
    assert all(torch.count_nonzero(v) == 0 for v in state)
    assert all(g.shape == (2, 1, 3, 4) for g in cell.attention_gates(m, state.s))
    assert all(g.shape == (2, 6, 3, 4) for g in cell.memory_gates(x, state.hidden))
    new, alpha = cell(x, m)
    assert new.a.shape == new.s.shape == (2, 1, 3, 4) and new.c.shape == new.o.shape == (2, 6, 3, 4)
    assert alpha.shape == (2, 3, 4)


@torch.no_grad()
def test_step_matches_the_per_gate_equations() -> None:
    torch.manual_seed(0)
    cell = LSTACell(5, 6, pool_size=4)
    for conv in (cell.attention_state_conv, cell.input_conv, cell.pooled_conv):
        assert conv.bias is not None
        nn.init.normal_(conv.bias)  # non-zero biases so misplaced ones show
    x, m = torch.randn(2, 5, 3, 4), 3 * torch.randn(2, 1, 3, 4)
    for state in (cell.initial_state(x), random_state(cell, 2, 3, 4)):
        got, alpha = cell(x, m, state)
        want, want_alpha = reference_step(cell, x, m, state)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w)
        torch.testing.assert_close(alpha, want_alpha)
    # no state means the zero state
    for g, w in zip(cell(x, m)[0], cell(x, m, cell.initial_state(x))[0], strict=True):
        torch.testing.assert_close(g, w)


def test_output_pool_selects_argmax_of_memory_plus_input_scores() -> None:
    cell = LSTACell(2, 2, pool_size=3)
    with torch.no_grad():
        cell.memory_dictionary.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.5]]))
        cell.input_dictionary.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]]))
    # GAP(c) = (1, 0.5) for both clips: W_c alone scores (1, 0.5, 0.75) -> class 0
    c = torch.tensor([[2.0, 0.0, 0.0, 2.0], [0.5, 0.5, 0.5, 0.5]]).view(1, 2, 2, 2).repeat(2, 1, 1, 1)
    # clip 0: GAP(x~) = (0.3, 0) adds 1.5 to class 2 -> (1, 0.5, 2.25); clip 1: GAP(x~) = 0 keeps class 0
    attended = torch.zeros(2, 2, 2, 2)
    attended[0, 0] = torch.tensor([[0.6, 0.0], [0.0, 0.6]])
    pooled, k = cell.output_pool(c, attended)
    assert k.tolist() == [2, 0]
    torch.testing.assert_close(pooled[0], c[0] * torch.tensor([0.0, 1.5]).view(2, 1, 1))
    torch.testing.assert_close(pooled[1], c[1] * torch.tensor([1.0, 0.0]).view(2, 1, 1))


def test_gradients_reach_attention_and_memory_convs_and_the_memory_dictionary() -> None:
    torch.manual_seed(0)
    cell = LSTACell(5, 6, pool_size=4)
    x, m = torch.randn(2, 3, 5, 3, 4), torch.randn(2, 3, 1, 3, 4)
    state = None
    for t in range(3):  # the output gate reaches c_T only through the next step: T >= 2
        state, _ = cell(x[:, t], m[:, t], state)
    assert state is not None
    (state.c * torch.randn_like(state.c)).sum().backward()
    for name, p in cell.named_parameters():
        if name == "input_dictionary.weight":
            # W_cp only feeds the argmax that picks k*: no gradient can reach it, so it is frozen
            assert not p.requires_grad and p.grad is None
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


@torch.no_grad()
@pytest.mark.parametrize("autocast", [False, True])
def test_attention_maps_sum_to_one_per_frame(autocast: bool) -> None:
    model = lsta().eval()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = model({"rgb": clip(t=4)})
    maps = out["attention"]
    assert maps.shape == (2, 4, 2, 2) and maps.dtype == torch.float32  # 64x64 frames -> 2x2 layer4 grid
    assert (maps > 0).all()
    torch.testing.assert_close(maps.sum(dim=(2, 3)), torch.ones(2, 4))
    assert out["verb"].shape == (2, 3) and out["noun"].shape == (2, 4)


@torch.no_grad()
def test_nobn_tensor_and_saliency_match_a_manual_computation() -> None:
    model = lsta().eval()
    net = model.backbone
    for bn in net.modules():  # non-trivial BatchNorm so "before bn2" differs from "after"
        if isinstance(bn, nn.BatchNorm2d):
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    rgb = clip(t=2)
    x, saliency = model.frame_features(rgb)
    images = rgb.flatten(0, 1)
    y = net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(images)))))))
    y = net.layer4[1](net.layer4[0](y))
    last = net.layer4[2]  # identity shortcut: no downsample in the last block
    pre_bn = last.conv2(last.relu(last.bn1(last.conv1(y))))
    torch.testing.assert_close(x.flatten(0, 1), pre_bn + y)
    assert (x < 0).any(), "no ReLU on the noBN tensor"
    f = net.layer4(net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(images))))))))
    cls = net.fc(f.mean(dim=(2, 3))).argmax(dim=1)
    manual = (net.fc.weight[cls][:, :, None, None] * f).sum(dim=1, keepdim=True)
    torch.testing.assert_close(saliency.flatten(0, 1), manual, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(attention_saliency(f, net.fc.weight, net.fc.bias)[1], cls)


@pytest.mark.parametrize(("stage", "expected"), [(1, STAGE1), (2, STAGE2)])
def test_trainable_parameter_names_per_stage(stage: int, expected: set[str]) -> None:
    with torch.device("meta"):
        model = create_model("lsta_resnet34", TASKS, stage=stage)
    assert trainable(model) == expected


@pytest.mark.parametrize("stage", [1, 2])
def test_one_adam_step_changes_exactly_the_trainable_parameters(stage: int) -> None:
    model = lsta(stage=stage)
    model.train()
    set_batchnorm_mode(model, "train")  # what the engine does: BatchNorm with frozen parameters stays in eval
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    out = model({"rgb": clip()})
    torch.stack([F.cross_entropy(out[t], torch.tensor([0, 1])) for t in TASKS]).sum().backward()
    optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == (STAGE1 if stage == 1 else STAGE2)


def test_stage_2_loads_a_stage_1_state_dict_strictly() -> None:
    stage1 = lsta(stage=1).state_dict()
    stage2 = lsta(stage=2)
    assert list(stage2.state_dict()) == list(stage1)
    stage2.load_state_dict(stage1, strict=True)
    assert trainable(stage2) == STAGE2  # loading keeps the stage's trainable set


@torch.no_grad()
def test_one_action_head_and_the_clip_feature_is_the_pooled_final_memory() -> None:
    torch.manual_seed(0)
    model = create_model("lsta_resnet34", {"action": 5}, memory=16, pool_size=5).eval()
    assert isinstance(model, LSTA)
    rgb = clip()
    out = model({"rgb": rgb})
    assert set(out) == {"action", "attention"} and out["action"].shape == (2, 5)
    x, saliency = model.frame_features(rgb)
    state = None
    for t in range(3):
        state, _ = model.cell(x[:, t], saliency[:, t], state)
    assert state is not None
    torch.testing.assert_close(out["action"], model.heads(state.c.mean(dim=(2, 3)))["action"])


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="stage"), torch.device("meta"):
        create_model("lsta_resnet34", TASKS, stage=3)
    with pytest.raises(ValueError, match="odd"):
        LSTACell(4, 4, kernel_size=2)
    with pytest.raises(ValueError, match="pool_size"):
        LSTACell(4, 4, pool_size=0)
