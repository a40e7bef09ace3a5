"""Where and in which precision a model computes: ``FEDLIB_DEVICE`` and ``FEDLIB_PRECISION``.

* device    -- ``auto`` (the first CUDA GPU when there is one, else the CPU), ``cpu``, ``cuda`` or
  ``cuda:N``. Models, batches and evaluation all live there.
* precision -- ``auto``, ``fp32`` or ``bf16``. ``auto`` is bf16 where the hardware multiplies bf16
  natively (CPU flags ``avx512_bf16`` / ``amx_bf16``, CUDA compute capability >= 8.0), else fp32.

In bf16 the frozen backbone weights are stored in bf16 once and every forward pass runs under
``torch.autocast``; trainable parameters (prompt, prompt encoder, LoRA, head) and the optimiser state
stay fp32, and full fine-tuning keeps fp32 master weights. fp32 is today's reference path, unchanged.

Autocast is entered once per forward pass, never around several optimiser steps: it caches the bf16
copies of weights until its outermost context exits, so a context held across steps keeps training
on stale copies of the trainable parameters (the loss stops falling without any error).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import warnings
from pathlib import Path

import torch

DEVICES_HELP = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("auto", "fp32", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class DeviceFallbackWarning(UserWarning):
    """A GPU was asked for (or expected) but the run computes on the CPU."""


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def native_bf16(device: str) -> bool:
    """Whether ``device`` multiplies bf16 matrices in hardware (not emulated through fp32)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_capability(torch.device(device)) >= (8, 0)
    return any(flag in cpu_flags() for flag in _CPU_BF16_FLAGS)


def resolve_device(requested: str | None = None, *, expect_gpu: bool = False) -> str:
    """``requested`` (else ``$FEDLIB_DEVICE``, else ``auto``) as a concrete ``cpu`` / ``cuda:N``.

    ``expect_gpu`` (the ``paper`` profile) warns when ``auto`` finds no GPU, so that a run which
    expected one never trains on the CPU silently.
    """
    name = (requested or os.environ.get("FEDLIB_DEVICE") or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        if expect_gpu:
            warnings.warn("no CUDA GPU found: this run computes on the CPU (FEDLIB_DEVICE=cpu silences "
                          "this warning)", DeviceFallbackWarning, stacklevel=2)
        return "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for, but torch sees no CUDA GPU "
                             f"(torch {torch.__version__}; use FEDLIB_DEVICE=cpu or auto)")
        index = int(name.partition(":")[2] or 0)
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise ValueError(f"device {name!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return f"cuda:{index}"
    raise ValueError(f"unknown device {name!r}; choose one of {DEVICES_HELP} (FEDLIB_DEVICE)")


def resolve_precision(requested: str | None, device: str) -> str:
    """``requested`` (``auto`` / ``fp32`` / ``bf16``; ``None`` = ``auto``) as ``fp32`` or ``bf16``."""
    name = (requested or "auto").strip().lower()
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of {list(PRECISIONS)} (FEDLIB_PRECISION)")
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return name


@dataclasses.dataclass(frozen=True)
class Runtime:
    """A device and a precision: what every training and evaluation call computes with."""

    device: str = "cpu"
    precision: str = "fp32"

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def autocast(self):
        """The context for *one* forward pass (see the module docstring for why only one).

        On a CPU without bf16 instructions, bf16 is autocast's numerics on fp32 kernels
        (:class:`fedlib.kernels.EmulatedBf16Autocast`): a training step under PyTorch's own costs ~15x more there.
        """
        if self.precision == "fp32":
            return contextlib.nullcontext()
        if self.device == "cpu" and not native_bf16("cpu"):
            from fedlib.kernels import EmulatedBf16Autocast

            return EmulatedBf16Autocast()
        return torch.autocast(torch.device(self.device).type, dtype=self.dtype)

    def to_device(self, batch: dict) -> dict:
        if self.device == "cpu":
            return batch
        return {key: value.to(self.device, non_blocking=True) for key, value in batch.items()}


FP32_CPU = Runtime()


def runtime_of(model: torch.nn.Module) -> Runtime:
    """The runtime a prepared model computes in: its device, bf16 when its weights are stored in bf16."""
    params = list(model.parameters())
    device = str(params[0].device) if params else "cpu"
    if device == "cuda":
        device = "cuda:0"
    bf16 = any(p.dtype == torch.bfloat16 for p in params)
    return Runtime(device=device, precision="bf16" if bf16 else "fp32")


def prepare_model(model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """Move ``model`` to the runtime's device and, in bf16, store its frozen weights in bf16.

    Trainable parameters stay fp32 (they are what the optimiser updates and clients send). On the CPU,
    bf16 also swaps in the fused dropout and attention of :mod:`fedlib.kernels`, which the CPU needs
    (CUDA's own kernels are already fast).
    """
    model.to(runtime.device)
    if runtime.precision == "bf16":
        for param in model.parameters():
            if not param.requires_grad:
                param.data = param.data.to(torch.bfloat16)
        if runtime.device == "cpu":
            from fedlib.kernels import install_cpu_kernels

            install_cpu_kernels(model)
    return model
