"""The zoo benchmark: every model gets the same, valid budget, and the reversal-pair score reads the right cells."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from egoaction.config import from_dict
from egoaction.engine.checkpoint import init_from
from egoaction.engine.optim import param_groups
from egoaction.models import count_parameters, create_model, list_models

VERBS = ["take", "put", "open", "close", "turn-on", "turn-off", "push", "pull", "cut", "stir", "shake", "wash"]


@pytest.fixture(scope="module")
def zoo(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("zoo")


def test_every_model_gets_the_same_valid_budget(zoo: ModuleType) -> None:
    args = zoo.parse_args([])
    budgets = []
    for name in list_models():
        cfg = from_dict(zoo.experiment(name, args), source=name)  # raises on a bad key or value
        assert cfg.model.name == name and cfg.data.num_frames == 8 and cfg.data.size == (48, 84)
        budgets.append((cfg.optim, cfg.schedule, cfg.trainer.max_epochs, cfg.data.batch_size, cfg.loss))
    assert all(b == budgets[0] for b in budgets)


def test_fixed_input_models_are_built_for_the_budget_clip(zoo: ModuleType) -> None:
    assert zoo.model_kwargs("early_fusion", 8, (48, 84)) == {"dropout": 0.0, "num_frames": 8}
    assert zoo.model_kwargs("tsn_resnet18", 8, (48, 84)) == {"dropout": 0.0}


def test_a_model_kwarg_reaches_the_model_and_names_the_result_and_run(zoo: ModuleType) -> None:
    args = zoo.parse_args(["--model-kwarg", "consensus=trn", "--model-kwarg", "shift_div=4"])
    assert args.model_kwargs == {"consensus": "trn", "shift_div": 4}  # JSON values where they parse
    cfg = from_dict(zoo.experiment("tsm_resnet18", args), source="zoo")
    assert cfg.model.kwargs == {"dropout": 0.0, "num_frames": 8, "consensus": "trn", "shift_div": 4}
    assert cfg.name == "tsm_resnet18_consensus-trn_shift_div-4"  # its own run directory
    assert zoo.variant("tsm_resnet18", args.model_kwargs) == "tsm_resnet18[consensus=trn][shift_div=4]"
    model = zoo.budget_model("tsm_resnet18", args, args.model_kwargs)
    assert (model.consensus, model.shift_div) == ("trn", 4)
    with pytest.raises(SystemExit):
        zoo.parse_args(["--model-kwarg", "consensus"])  # no value: argparse names the option and exits


def test_an_lr_factor_reaches_the_optimiser_and_names_the_result_and_run(zoo: ModuleType) -> None:
    args = zoo.parse_args(["--lr-factor", "encoder=0.1"])
    cfg = from_dict(zoo.experiment("resnet18_transformer", args), source="zoo")
    assert cfg.optim.lr_factors == {"encoder": 0.1}
    assert cfg.name == "resnet18_transformer_lr.encoder-0.1"
    assert zoo.variant("resnet18_transformer", {}, args.lr_factors) == "resnet18_transformer[lr.encoder=0.1]"
    groups = param_groups(zoo.budget_model("resnet18_transformer", args), cfg.optim)
    lrs = {g["name"]: g["lr"] for g in groups}
    assert lrs["encoder"] == pytest.approx(1e-4) and lrs["head"] == pytest.approx(1e-3)
    for bad in ("encoder", "=0.1", "encoder=fast"):
        with pytest.raises(SystemExit):
            zoo.parse_args(["--lr-factor", bad])


def test_reversal_top1_counts_only_reversal_verbs(zoo: ModuleType) -> None:
    confusion = [[0] * 12 for _ in range(12)]
    confusion[0][0] = 3  # take right 3 times
    confusion[0][1] = 1  # take read as put once
    confusion[1][1] = 2  # put right twice
    confusion[8][8] = 50  # cut is not a reversal verb: ignored
    confusion[8][0] = 7
    report = {"class_names": VERBS, "confusion": confusion}
    assert zoo.reversal_top1(report) == pytest.approx(100 * 5 / 6)


def test_table_sorts_by_verb_accuracy(zoo: ModuleType) -> None:
    row = {"noun_top1": 1.0, "action_top1": 1.0, "reversal_verb_top1": 1.0, "params": 1e6, "train_clips_per_s": 1.0}
    results = {
        "a": {"model": "a", "verb_top1": 10.0, "wall_s": 60, **row},
        "b": {"model": "b", "verb_top1": 20.0, "wall_s": 60, **row},
    }
    lines = zoo.table(results).splitlines()
    assert lines[2].startswith("| b |") and lines[3].startswith("| a |")


def test_the_default_sweep_holds_the_rgb_models_only(zoo: ModuleType) -> None:
    names = zoo.rgb_models()
    assert {"tsn_resnet18", "tsm_resnet18", "resnet18_bilstm_attn", "egornn_resnet34"} <= set(names)
    # flow streams and the motion-segmentation variant need data the RGB-only EPIC budget does not load
    assert not {"flow_resnet34", "two_stream_egornn", "egornn_ms"} & set(names)


def test_the_standin_goes_to_the_resnet18_models_and_fits_each(zoo: ModuleType, tmp_path: Path) -> None:
    tsn = create_model("tsn_resnet18", zoo.TASKS)
    weights = zoo.save_weights(zoo.strip_wrapper_prefixes(tsn.state_dict()), tmp_path / "standin.pt")
    standins = {"resnet18": weights}
    given = [n for n in zoo.rgb_models() if "pretrained" in zoo.model_kwargs(n, 8, (48, 84), standins)]
    assert set(given) == {
        "tsn_resnet18",
        "tsm_resnet18",
        "gsf_resnet18",
        "trn_resnet18",
        "resnet18_bilstm_attn",
        "single_frame",
        "early_fusion",
        "late_fusion",
        "slow_fusion",
        "resnet18_lstm",
        "resnet18_transformer",
        "r3d_18",
        "mc3_18",
    }
    assert "pretrained" not in zoo.model_kwargs("tsn_resnet18", 8, (48, 84))  # no stand-in: from scratch
    expected = tsn.state_dict()["backbone.layer4.1.conv2.weight"]
    for name in given:
        state = create_model(name, zoo.TASKS, **zoo.model_kwargs(name, 8, (48, 84), standins)).state_dict()
        if name in zoo.INFLATABLE:  # a 3D kernel whose time slices sum to the 2D one
            torch.testing.assert_close(state["backbone.layer4.1.conv2.0.weight"].sum(2), expected, msg=name)
            continue
        (key,) = [k for k in state if k.endswith("layer4.1.conv2.weight")]
        assert torch.equal(state[key], expected), name


def test_each_resnet_gets_its_own_standin_and_the_models_on_it_load_it(zoo: ModuleType, tmp_path: Path) -> None:
    assert {n: zoo.standin_arch(n) for n in ("resnet50_pool", "tsm_resnet50", "tsn_resnet34", "s3d")} == {
        "resnet50_pool": "resnet50",
        "tsm_resnet50": "resnet50",
        "tsn_resnet34": "resnet34",
        "s3d": None,
    }
    args = zoo.parse_args(["--pretrain-epochs", "3", "--runs", str(tmp_path)])
    assert zoo.standin_path(args, "resnet50") == tmp_path / "standin_resnet50_3ep.pt"
    standins, tsn_states = {}, {}
    for arch in ("resnet34", "resnet50"):
        tsn_states[arch] = create_model(f"tsn_{arch}", zoo.TASKS).state_dict()
        standins[arch] = zoo.save_weights(zoo.strip_wrapper_prefixes(tsn_states[arch]), tmp_path / f"{arch}.pt")
    assert "pretrained" not in zoo.model_kwargs("tsn_resnet18", 8, (48, 84), standins)  # no ResNet-18 stand-in
    # every model of the default sweep on a ResNet-34 or -50 builds from its stand-in and holds its weights
    given = [n for n in zoo.rgb_models() if zoo.standin_arch(n) in standins]
    assert {"tsn_resnet34", "resnet50_pool", "resnet50_lstm", "tsm_resnet50"} <= set(given)
    assert not {"egornn_resnet34", "lsta_resnet34"} & set(given)  # their CAM needs an ImageNet fc
    for name in given:
        arch = zoo.standin_arch(name)
        state = create_model(name, zoo.TASKS, **zoo.model_kwargs(name, 8, (48, 84), standins)).state_dict()
        (key,) = [k for k in state if k.endswith("layer4.2.conv1.weight")]
        assert torch.equal(state[key], tsn_states[arch]["backbone.layer4.2.conv1.weight"]), name


def test_the_table_says_which_models_started_from_the_standin(zoo: ModuleType, tmp_path: Path) -> None:
    args = zoo.parse_args(["--pretrain-epochs", "3", "--runs", str(tmp_path)])
    assert zoo.standin_path(args) == tmp_path / "standin_resnet18_3ep.pt"
    assert zoo.standin_path(zoo.parse_args(["--pretrain-epochs", "0"])) is None
    row = {"verb_top1": 1.0, "noun_top1": 1.0, "action_top1": 1.0, "reversal_verb_top1": 1.0, "params": 1e6}
    row |= {"train_clips_per_s": 1.0, "wall_s": 60}
    results = {"a": {"model": "a", "pretrain_epochs": 3, **row}, "b": {"model": "b", **row}}
    results["c"] = {"model": "c", "name": "resnet50_lstm", "pretrain_epochs": 3, **row}
    lines = zoo.table(results).splitlines()
    assert "| a | stand-in (3 ep) |" in lines[2] and "| b | scratch |" in lines[3]
    assert "| c | resnet50 stand-in (3 ep) |" in lines[4]


@pytest.mark.slow
def test_a_run_records_the_reversal_score_of_every_epoch(
    zoo: ModuleType, synth_root: Callable[[str], Path], tmp_path: Path
) -> None:
    budget = ["--root", str(synth_root("epic100")), "--runs", str(tmp_path), "--epochs", "2", "--frames", "2"]
    budget += ["--size", "32", "32", "--batch", "8", "--workers", "0", "--pretrain-epochs", "0", "--speed-steps", "1"]
    record = zoo.run_model("tsn_resnet18", zoo.parse_args(budget))
    assert len(record["reversal_verb_top1_by_epoch"]) == 2
    # the last epoch's validation and the evaluation of the last checkpoint score the same clips the same way
    assert record["reversal_verb_top1_by_epoch"][-1] == pytest.approx(record["reversal_verb_top1"])
    assert record["params"] == count_parameters(create_model("tsn_resnet18", zoo.TASKS))
    assert "standin" not in record["budget"]


def test_a_changed_recipe_names_the_result_and_run_so_it_cannot_replace_the_default_row(zoo: ModuleType) -> None:
    default = zoo.parse_args([])
    assert zoo.recipe_changes(default) == []
    assert from_dict(zoo.experiment("swin3d_t", default), source="zoo").name == "swin3d_t"
    args = zoo.parse_args(["--lr", "1e-4", "--size", "96", "168", "--task-weight", "noun=0"])
    assert zoo.recipe_changes(args) == [("size", [96, 168]), ("lr", 1e-4), ("task_weights", [("noun", 0.0)])]
    name = zoo.variant("swin3d_t", args.model_kwargs, args.lr_factors, zoo.recipe_changes(args))
    assert name == "swin3d_t[size=96x168][lr=0.0001][task_weights=noun@0]"
    cfg = from_dict(zoo.experiment("swin3d_t", args), source="zoo")
    assert cfg.name == "swin3d_t_size-96x168_lr-0.0001_task_weights-noun@0" and cfg.optim.lr == pytest.approx(1e-4)


def test_motion_steps_start_each_run_from_its_own_motion_standin(zoo: ModuleType, tmp_path: Path) -> None:
    assert from_dict(zoo.experiment("tsm_resnet18", zoo.parse_args([])), source="zoo").model.init_from is None
    budget = ["--runs", str(tmp_path), "--frames", "4", "--size", "32", "32", "--pretrain-epochs", "0"]
    args = zoo.parse_args([*budget, "--motion-steps", "2"])
    cfg = from_dict(zoo.experiment("tsm_resnet18", args), source="zoo")
    assert cfg.name.endswith("_motion_steps-2")  # named by it, so it cannot replace the default row
    path = zoo.motion_standin("tsm_resnet18", args)
    assert cfg.model.init_from == str(path) and path.is_file()
    top1 = zoo.motion_score("tsm_resnet18", args)  # kept beside the weights for the results' start column
    assert top1 is not None and 0 <= top1 <= 100
    path.with_suffix(".json").unlink()  # a stand-in saved before the score was kept: no score, not a retrain
    assert zoo.motion_standin("tsm_resnet18", args) == path and zoo.motion_score("tsm_resnet18", args) is None
    state = torch.load(path, weights_only=True)
    assert not [k for k in state if k.startswith("heads.")]  # the kitchen's heads start afresh
    kitchen = create_model("tsm_resnet18", zoo.TASKS, **zoo.model_kwargs("tsm_resnet18", 4, (32, 32)))
    assert sorted(init_from(kitchen, path)) == sorted(k for k in kitchen.state_dict() if k.startswith("heads."))
    assert torch.equal(kitchen.state_dict()["backbone.layer4.1.conv2.weight"], state["backbone.layer4.1.conv2.weight"])
    row = {"model": "m", "name": "tsm_resnet18", "pretrain_epochs": 3, "motion_steps": 600, "verb_top1": 1.0}
    row |= {"noun_top1": 1.0, "action_top1": 1.0, "reversal_verb_top1": 1.0, "params": 1e6}
    row |= {"train_clips_per_s": 1.0, "wall_s": 60}
    assert "| m | resnet18 stand-in (3 ep) + motion (600 steps) |" in zoo.table({"m": row})
    row["motion_directions_top1"] = 98.04
    assert "| m | resnet18 stand-in (3 ep) + motion (600 steps, 98.0 % of directions) |" in zoo.table({"m": row})
