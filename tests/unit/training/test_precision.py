"""Mixed precision on the CPU: bfloat16 where it is fast, float32 for depthwise convolutions,
and nothing left behind on the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from training import precision
from training.model import Reviewer
from training.precision import autocast_dtype, depthwise_in_float32, describe_precision, mixed_precision


def test_depthwise_convolutions_run_in_float32_inside_a_bfloat16_region_and_only_there() -> None:
    depthwise, pointwise = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1)
    model = nn.Sequential(depthwise, pointwise)
    keys = list(model.state_dict())
    x = torch.randn(2, 8, 6, 6)
    with depthwise_in_float32(model), torch.autocast("cpu", dtype=torch.bfloat16):
        assert depthwise(x).dtype == torch.float32
        assert pointwise(x).dtype == torch.bfloat16
        assert model(x).dtype == torch.bfloat16
    assert "forward" not in vars(depthwise) and list(model.state_dict()) == keys
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert depthwise(x).dtype == torch.bfloat16  # the patch is gone with the block


def test_the_lower_precision_follows_the_device_and_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype(cpu, enabled=False) is None and autocast_dtype(cuda, enabled=False) is None
    assert autocast_dtype(cuda, enabled=True) == torch.float16
    monkeypatch.setattr(precision, "cpu_bfloat16_native", lambda: True)
    assert autocast_dtype(cpu, enabled=True) == torch.bfloat16
    monkeypatch.setattr(precision, "cpu_bfloat16_native", lambda: False)
    assert autocast_dtype(cpu, enabled=True) is None  # emulated bfloat16 would be slower


def test_the_training_log_says_which_precision_runs_and_why_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_bfloat16_native", lambda: True)
    assert describe_precision(cpu, enabled=True) == "training in bfloat16 mixed precision on cpu"
    assert "train.amp is off" in describe_precision(cpu, enabled=False)
    monkeypatch.setattr(precision, "cpu_bfloat16_native", lambda: False)
    slow = describe_precision(cpu, enabled=True)
    assert (
        slow.startswith("training in float32: this CPU has no native bfloat16")
        and "1.5 times as long" in slow
    )


def test_a_reviewer_step_in_bfloat16_gives_the_float32_outputs_within_its_precision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(precision, "cpu_bfloat16_native", lambda: True)
    torch.manual_seed(0)
    model = Reviewer("mobilenetv3_small_050", seg_channels=16, frozen_levels=2).eval()
    images = torch.randn(2, 3, 64, 64)
    exact = model(images)
    with mixed_precision(model, torch.device("cpu"), enabled=True):
        low = model(images)
    assert low["view"].dtype == torch.bfloat16
    for key in ("view", "stamp_type", "evidence", "condition_grade"):
        torch.testing.assert_close(low[key].float(), exact[key], rtol=0.05, atol=0.05, msg=key)
    low["view"].float().sum().backward()  # the float32 depthwise layers pass gradients through
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    assert not any("forward" in vars(m) for m in model.modules())
