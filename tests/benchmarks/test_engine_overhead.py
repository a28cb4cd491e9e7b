"""The overhead benchmark compares like with like: its plain loop must train exactly as egoaction's engine does."""

from __future__ import annotations

import copy

import torch

from egoaction.models import create_model


def test_plain_loop_and_engine_reach_the_same_weights(tmp_path, benchmark_script):
    bench = benchmark_script("engine_overhead")
    cfg = bench.bench_config(epochs=2, device="cpu", precision="32")
    data = bench.loader(bench.make_batches(count=3, batch=2, frames=2, size=32))
    torch.manual_seed(0)
    base = create_model("tsn_resnet18", task_spec=bench.TASKS, dropout=0.0)
    plain, ego = copy.deepcopy(base), copy.deepcopy(base)
    times = bench.plain_loop(plain, cfg, data, torch.device("cpu"))
    ego_times, boundaries = bench.egoaction_loop(ego, cfg, data, tmp_path / "run")
    assert len(times) == len(ego_times) == 2 and all(t > 0 for t in times + ego_times)
    assert len(boundaries) == 1  # between the two epochs: the checkpoint writes
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    moved = False
    for (name, p), q, b in zip(plain.named_parameters(), ego.parameters(), base.parameters(), strict=True):
        moved |= not torch.equal(p, b)
        assert torch.allclose(p, q, atol=1e-5, rtol=1e-4), name
    assert moved  # the step did train
    for (name, p), q in zip(plain.named_buffers(), ego.buffers(), strict=True):
        assert torch.allclose(p.float(), q.float(), atol=1e-5, rtol=1e-4), name
