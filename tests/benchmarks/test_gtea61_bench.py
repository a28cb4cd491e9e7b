"""The GTEA61 table benchmark: every row's overrides make a valid config, chains point at the same seed's runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from egoaction.config import load_config


@pytest.fixture(scope="module")
def bench(benchmark_script: Callable[[str], ModuleType]) -> ModuleType:
    return benchmark_script("gtea61")


def test_every_row_builds_a_valid_config_with_the_reduced_budget(bench: ModuleType, tmp_path: Path) -> None:
    args = bench.parse_args(["--runs", str(tmp_path)])
    weights = tmp_path / "standin.pt"
    for row in bench.ROWS:
        cfg = load_config(bench.CONFIGS / f"{row.config}.yaml", bench.row_sets(row, args, 1, weights))
        assert cfg.trainer.seed == 1
        assert list(cfg.data.size) == [64, 112] and cfg.data.resize == 64
        # the flow network's "frames" are its stack of 5 flow fields; the others' are RGB frames
        assert (cfg.data.flow_stack_len if row.kind == "flow" else cfg.data.num_frames) == row.frames
        assert cfg.model.kwargs["pretrained"] == str(weights)
        expected = {"stage1": 15, "stage2": 15, "flow": 30, "two_stream": 8}[row.kind]
        assert cfg.trainer.max_epochs == expected
        if row.init:
            assert cfg.model.init_from == str(tmp_path / "seed1" / row.init)
        else:
            assert cfg.model.init_from is None
        if row.streams:
            assert cfg.model.kwargs["rgb_checkpoint"].startswith(str(tmp_path / "seed1" / row.streams[0]))
            assert cfg.model.kwargs["flow_checkpoint"].startswith(str(tmp_path / "seed1" / row.streams[1]))


def test_milestones_scale_with_the_budget(bench: ModuleType, tmp_path: Path) -> None:
    args = bench.parse_args(["--runs", str(tmp_path), "--stage1-epochs", "20"])
    row = bench.BY_KEY["s1_cam_7"]
    cfg = load_config(bench.CONFIGS / f"{row.config}.yaml", bench.row_sets(row, args, 0, tmp_path / "w.pt"))
    # the seed's [25, 75, 150] of 200 epochs, at 20 epochs
    assert cfg.schedule.milestones == [2, 8, 15]


def test_asking_for_one_row_runs_the_rows_it_starts_from_first(bench: ModuleType) -> None:
    rows = [r.key for r in bench.needed([bench.BY_KEY["two_stream_16"]])]
    assert rows == ["s1_cam_16", "s2_cam_16", "flow_5", "two_stream_16"]


def test_table_averages_seeds(bench: ModuleType) -> None:
    results = {
        f"s1_cam_7@{s}": {"row": "s1_cam_7", "seed": s, "top1": acc, "wall_s": 60.0}
        for s, acc in [(0, 40.0), (1, 50.0), (2, 60.0)]
    }
    line = next(x for x in bench.table(results).splitlines() if x.startswith("| Ego-RNN - stage 1 |"))
    assert "| 50.0 | 40.0 / 50.0 / 60.0 |" in line


def test_pretrain_size_reaches_the_standin_config(bench: ModuleType, tmp_path: Path) -> None:
    import standin  # the benchmark put benchmarks/ on sys.path

    default = load_config(standin.DEMO, standin.standin_sets("tsn_resnet34", tmp_path, tmp_path, 3, 1))
    assert list(default.data.size) == [48, 84] and default.data.resize == 48
    args = bench.parse_args(["--pretrain-size", "96", "168"])
    sets = standin.standin_sets("tsn_resnet34", tmp_path, tmp_path, 3, 1, tuple(args.pretrain_size))
    sized = load_config(standin.DEMO, sets)
    assert list(sized.data.size) == [96, 168] and sized.data.resize == 96
    assert sized.trainer.max_epochs == 3 and sized.model.name == "tsn_resnet34"


def test_a_new_standin_budget_gets_its_own_file(bench: ModuleType, tmp_path: Path) -> None:
    default = bench.standin_path(bench.parse_args(["--runs", str(tmp_path)]))
    longer = bench.standin_path(bench.parse_args(["--runs", str(tmp_path), "--pretrain-epochs", "62"]))
    larger = bench.standin_path(bench.parse_args(["--runs", str(tmp_path), "--pretrain-size", "96", "168"]))
    assert len({default, longer, larger}) == 3
    assert default.parent == tmp_path and larger.name == "standin_resnet34_24ep_96x168.pt"
