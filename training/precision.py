"""Mixed precision for training: float16 on CUDA, bfloat16 on a CPU that computes it natively.

On the 2-core development machine (AMD EPYC with AVX512-BF16) bfloat16 runs reviewer A's
frozen ImageNet levels 2.9 times as fast as float32, and the ordinary convolutions of a
training step about twice as fast. Depthwise convolutions are the exception: oneDNN's
bfloat16 backward pass for them is 3 to 19 times slower than float32's, so they stay in
float32 (`depthwise_in_float32`). A CPU without native bfloat16 would emulate it, slower than
float32, so there the context does nothing. Master weights, the loss and validation stay in
float32; `train.amp: false` turns all of it off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn


@functools.cache
def cpu_bfloat16_native() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX) through oneDNN;
    asked once per process, not on every training step that enters `mixed_precision`."""
    try:
        # PyTorch has no public query for this; the private op is what its own autocast tests use
        supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()  # noqa: SLF001
        return bool(torch.backends.mkldnn.is_available() and supported)
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """The lower precision a step runs in on `device`, or None for float32 throughout."""
    if not enabled:
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu" and cpu_bfloat16_native():
        return torch.bfloat16
    return None


def _depthwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


def _in_float32(forward: Callable[..., Any], device_type: str) -> Callable[..., Any]:
    def call(x: torch.Tensor) -> Any:
        with torch.autocast(device_type, enabled=False):
            return forward(x.float())

    return call


@contextmanager
def depthwise_in_float32(model: nn.Module, device_type: str = "cpu") -> Iterator[None]:
    """Run `model`'s depthwise convolutions in float32 inside an autocast region. The patch
    lives on the module instances for the duration of the block only, so state dicts, export
    and every other caller see the model unchanged."""
    patched = [m for m in model.modules() if _depthwise(m) and "forward" not in vars(m)]
    for module in patched:
        module.forward = _in_float32(module.forward, device_type)
    try:
        yield
    finally:
        for module in patched:
            del module.forward


def describe_precision(device: torch.device, enabled: bool) -> str:
    """One line for the training log: the precision a step runs in, and why when a CPU
    trains in float32 although `enabled` asks for less (the demo's time budget assumes it)."""
    dtype = autocast_dtype(device, enabled)
    if dtype is not None:
        return f"training in {str(dtype).removeprefix('torch.')} mixed precision on {device.type}"
    if enabled and device.type == "cpu":
        return (
            "training in float32: this CPU has no native bfloat16 (AVX512-BF16 or AMX), and training takes "
            "about 1.5 times as long as in bfloat16, caching features 3 times (README: Performance)"
        )
    return f"training in float32 on {device.type} (train.amp is off)"


@contextmanager
def mixed_precision(model: nn.Module, device: torch.device, enabled: bool) -> Iterator[None]:
    """Autocast for `model`'s forward pass on `device` (see the module docstring); float32
    where the device has no fast lower precision or `enabled` is false."""
    dtype = autocast_dtype(device, enabled)
    if dtype is None:
        yield
        return
    patch = depthwise_in_float32(model, device.type) if dtype == torch.bfloat16 else nullcontext()
    with patch, torch.autocast(device.type, dtype=dtype):
        yield
