"""The CPU bf16 decision is made in one place and training and evaluation both follow it."""

from __future__ import annotations

import pytest
import torch

from egoaction.config import from_dict
from egoaction.engine import precision
from egoaction.engine.evaluate import autocast_dtype
from egoaction.engine.fit import precision_for


@pytest.mark.parametrize("fast", [True, False])
def test_training_and_evaluation_follow_the_cpu_bf16_decision(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    monkeypatch.setattr(precision, "cpu_bf16", lambda: fast)
    cfg = from_dict({"trainer": {"accelerator": "cpu", "precision": "auto"}})
    assert precision_for(cfg) == ("bf16-mixed" if fast else "32-true")
    assert autocast_dtype(torch.device("cpu")) == (torch.bfloat16 if fast else None)


def test_an_explicit_precision_overrides_the_cpu_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16", lambda: True)
    assert precision_for(from_dict({"trainer": {"accelerator": "cpu", "precision": "32"}})) == "32-true"


def test_the_decision_is_what_onednn_reports() -> None:
    assert precision.cpu_bf16() is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
