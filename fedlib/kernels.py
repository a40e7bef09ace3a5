"""Dropout, attention and (where the CPU lacks bf16 instructions) matrix products for bf16 on the CPU.

Profiled on a 2-core ``avx512_bf16`` CPU (me5s-q4, soft prompt, batch 8, ~58 tokens): once the matrix
products run in bf16, ``aten::bernoulli_`` (dropout masks from the CPU's Mersenne Twister, ~7 ns per
element) takes ~28 % of a training step, and SDPA with dropout falls back to its unfused math path;
without dropout its flash kernel's *backward* is slower still at these short lengths. So:

* :func:`apply_dropout` draws its keep-mask from NumPy's PCG64 (seeded from the torch RNG, so a seeded run
  stays deterministic) and applies it as one multiplication, which autograd reuses for the backward;
  p is quantised to 1/65536.
* :func:`attention` is the eager attention of ``transformers`` with a float32 softmax and that dropout,
  registered as the attention implementation ``"fedlib"``.

Same distributions as PyTorch's, different random streams: the fp32 path keeps PyTorch's kernels and
stays bit-identical to earlier releases; only bf16 on the CPU uses these (``fedlib.runtime``).
``torch.compile`` was measured as the alternative and not kept: ~5 min to compile on 2 cores and no
faster step afterwards.

On a CPU without ``avx512_bf16`` / ``amx_bf16`` (e.g. an AVX2-only EPYC), PyTorch's bf16 matrix
products fall back to slow loops: measured on such a 2-core machine, 1.0 GFLOP/s in bf16 against
89 GFLOP/s in fp32 for a 1024x1024 product on one thread, and a training step of the prompt encoder
on 4 rows of me5s-q4 cost 4.2 s of CPU under ``torch.autocast`` against 0.28 s here (whole processes
of 1 and 3 or 11 steps, medians of 3, the difference per step). :class:`EmulatedBf16Autocast` keeps
autocast's numerics there with fp32 kernels: the operands of every op autocast runs in bf16 are
rounded to bf16 (so their products are exact in fp32), the product is accumulated in fp32 and
rounded to bf16, as the native kernels do; only the order of the fp32 summation differs, as it does
between two native kernel families.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "fedlib"
_LEVELS = 65536  # keep-mask resolution: p is rounded to a multiple of 1/65536


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean tensor of ``shape``, each element True with probability ``1 - p``."""
    seed = int(torch.randint(0, 2**62, (1,)))  # from torch's RNG: seed_everything() fixes the stream
    bits = np.random.Generator(np.random.PCG64(seed)).integers(0, _LEVELS, size=int(np.prod(shape)),
                                                               dtype=np.uint16)
    # int16 view: torch compares signed 16-bit integers natively
    threshold = int(round(p * _LEVELS)) - _LEVELS // 2
    return torch.from_numpy(bits.view(np.int16)).view(shape) >= threshold


def apply_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by ``1/(1-p)``."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    keep = keep_mask(x.shape, p).to(x.device)
    scale = torch.where(keep, torch.tensor(1.0 / (1.0 - p), dtype=x.dtype, device=x.device),
                        torch.tensor(0.0, dtype=x.dtype, device=x.device))
    return x * scale


class Dropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` computed with :func:`apply_dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_dropout(x, self.p, self.training)


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Eager scaled dot-product attention (``transformers``' signature), float32 softmax."""
    scaling = scaling if scaling is not None else query.size(-1) ** -0.5
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # sdpa-style mask: True = attend
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    weights = torch.softmax(scores.float(), dim=-1).to(query.dtype)
    weights = apply_dropout(weights, dropout, module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, None


AttentionInterface.register(ATTENTION, attention)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def install_cpu_kernels(model: torch.nn.Module) -> torch.nn.Module:
    """Swap ``model``'s dropout modules and attention implementation for this module's (in place)."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(parent, name, Dropout(child.p))
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and getattr(config, "_attn_implementation", None) is not None:
            config._attn_implementation = ATTENTION
    return model


# What torch.autocast("cpu", dtype=torch.bfloat16) runs in bf16 (its lower-precision list, the ops these
# models reach), and the losses it runs in fp32 whatever their inputs.
_BF16_OPS = frozenset({F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm,
                       torch.Tensor.mm, torch.bmm, torch.Tensor.bmm, torch.addmm, torch.baddbmm,
                       F.scaled_dot_product_attention})
_FP32_OPS = frozenset({F.cross_entropy, F.nll_loss, F.mse_loss, F.binary_cross_entropy_with_logits, F.kl_div})


def _as(value, dtype: torch.dtype):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


def _bf16_valued(value):
    """``value`` rounded to bf16 and held in fp32 (exact: every bf16 number is an fp32 number)."""
    return _as(_as(value, torch.bfloat16), torch.float32)


class EmulatedBf16Autocast(TorchFunctionMode):
    """bf16 autocast computed with fp32 kernels, for CPUs without bf16 instructions (module docstring).

    Used as a context manager around one forward pass, like ``torch.autocast``; the backward pass of
    an emulated product runs fp32 kernels on the same bf16-valued operands.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _BF16_OPS:
            args = [_bf16_valued(a) for a in args]
            kwargs = {k: _bf16_valued(v) for k, v in kwargs.items()}
            return _as(func(*args, **kwargs), torch.bfloat16)
        if func in _FP32_OPS:
            args = [_as(a, torch.float32) for a in args]
            kwargs = {k: _as(v, torch.float32) for k, v in kwargs.items()}
        return func(*args, **kwargs)
