"""Precision and device: they reach the model and the batches, bf16 still learns, fp32 is unchanged."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch

from fedlib import kernels, runtime
from fedlib.experiment import ExperimentConfig, ResolvedConfig
from fedlib.methods import METHODS
from fedlib.model import ModelSpec, get_bundle
from fedlib.training import encode, evaluate, train_local

LANGS = ("eng_Latn", "hau_Latn")
NATIVE_BF16 = runtime.native_bf16("cpu")


def smoke(**overrides) -> ExperimentConfig:
    return ExperimentConfig(**{"task": "sib200", "languages": LANGS, "profile": "smoke", **overrides}).resolved()


# ------------------------------------------------------------------ resolution
def test_auto_precision_follows_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert runtime.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert runtime.resolve_precision(None, "cpu") == "bf16"
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert runtime.resolve_precision("auto", "cpu") == "fp32"
    assert runtime.resolve_precision("bf16", "cpu") == "bf16"  # asked for explicitly: emulated, but honoured
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        runtime.resolve_precision("fp16", "cpu")


def test_device_resolution(monkeypatch):
    monkeypatch.delenv("FEDLIB_DEVICE", raising=False)
    assert runtime.resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto") == "cpu"
    with pytest.warns(runtime.DeviceFallbackWarning, match="computes on the CPU"):
        assert runtime.resolve_device(None, expect_gpu=True) == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        runtime.resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        runtime.resolve_device("tpu")
    monkeypatch.setenv("FEDLIB_DEVICE", "cuda:1")
    with pytest.raises(ValueError, match="'cuda:1'"):
        runtime.resolve_device(None)


def test_the_paper_profile_says_when_it_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.delenv("FEDLIB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(runtime.DeviceFallbackWarning):
        cfg = ExperimentConfig(task="sib200", languages=LANGS, profile="paper").resolved()
    assert cfg.device == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ExperimentConfig(task="sib200", languages=LANGS, profile="paper", device="cpu").resolved()


def test_config_records_precision_and_keeps_fp32_hashes(monkeypatch):
    monkeypatch.delenv("FEDLIB_PRECISION", raising=False)
    fp32 = smoke(precision="fp32")
    bf16 = smoke(precision="bf16")
    assert (fp32.precision, bf16.precision, fp32.device) == ("fp32", "bf16", "cpu")
    assert fp32.config_hash() != bf16.config_hash()  # precision decides the result: part of the identity
    assert "precision" not in fp32.identity_json()  # the legacy value: earlier artifacts keep their hash
    assert smoke(precision="fp32", device="cpu").config_hash() == fp32.config_hash()  # device is not identity
    monkeypatch.setenv("FEDLIB_PRECISION", "fp32")
    assert smoke().precision == "fp32" and smoke().config_hash() == fp32.config_hash()
    assert ResolvedConfig.from_json(bf16.to_json()) == bf16  # the transport keeps both fields
    with pytest.raises(ValueError, match="unknown precision"):
        smoke(precision="half")


# ------------------------------------------------------------------ the model and the batches
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_reaches_the_weights(method, precision):
    bundle = get_bundle(ModelSpec("tiny-random", method, 7, num_virtual_tokens=4, precision=precision))
    frozen = {p.dtype for p in bundle.model.parameters() if not p.requires_grad}
    trainable = {p.dtype for p in bundle.model.parameters() if p.requires_grad}
    assert trainable == {torch.float32}  # what the optimiser updates and clients send
    if method == "full":
        assert not frozen  # fp32 master weights
    else:
        assert frozen == {torch.bfloat16 if precision == "bf16" else torch.float32}
    dropouts = {type(m) for m in bundle.model.modules() if isinstance(m, torch.nn.Dropout)}
    attention = bundle.model.config._attn_implementation
    if precision == "bf16":
        assert dropouts == {kernels.Dropout} and attention == kernels.ATTENTION
    else:
        assert dropouts == {torch.nn.Dropout} and attention != kernels.ATTENTION
    assert all(v.device.type == "cpu" and v.dtype == torch.float32 for v in bundle.initial_state(0).values())


def test_the_model_computes_in_bf16_under_the_runtime():
    bundle = get_bundle(ModelSpec("tiny-random", "prompt", 7, num_virtual_tokens=4, precision="bf16"))
    seen = []
    layer = bundle.model.base_model.roberta.encoder.layer[0].intermediate.dense
    handle = layer.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    try:
        data = encode(_rows(4), bundle.tokenizer, 32)
        evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)
        evaluate(bundle.model, data, bundle.tokenizer)  # no runtime given: the model's own
    finally:
        handle.remove()
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert runtime.runtime_of(bundle.model) == bundle.runtime == runtime.Runtime("cpu", "bf16")


def _rows(n: int):
    from fedlib.client_datasets import build_clients

    return build_clients(smoke(train_per_client=n))[0].train


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_under_the_chosen_precision_lowers_the_loss(precision):
    """Would catch autocast held across optimiser steps (stale bf16 copies: the loss stops falling)."""
    # LoRA: frozen bf16 weights and fp32 trainable ones in every layer; the tiny random model fits
    # 8 rows with it (soft prompts barely move its loss in this many steps).
    bundle = get_bundle(ModelSpec("tiny-random", "lora", 7, num_virtual_tokens=4, precision=precision))
    bundle.reset(0)
    data = encode(_rows(8), bundle.tokenizer, 32)
    before = evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)["loss"]
    report = train_local(bundle.model, bundle.tokenizer, data, epochs=40, lr=1e-2, batch_size=8, seed=0,
                         progress=False, runtime=bundle.runtime)
    after = evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)["loss"]
    assert after < 0.8 * before, (before, after)
    assert report.history[-1]["train_loss"] < report.history[0]["train_loss"]


def test_bf16_training_is_deterministic():
    bundle = get_bundle(ModelSpec("tiny-random", "ptuning", 7, num_virtual_tokens=4, precision="bf16"))
    data = encode(_rows(16), bundle.tokenizer, 32)
    states = []
    for _ in range(2):
        bundle.reset(1)
        train_local(bundle.model, bundle.tokenizer, data, epochs=2, lr=1e-2, batch_size=8, seed=5,
                    progress=False, runtime=bundle.runtime)
        states.append({k: v.clone() for k, v in bundle.model.named_parameters() if v.requires_grad})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


# ------------------------------------------------------------------ kernels
def test_dropout_keeps_the_expected_fraction_and_scale():
    torch.manual_seed(0)
    x = torch.ones(200_000, dtype=torch.bfloat16)
    y = kernels.apply_dropout(x, 0.1)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.9) < 0.005
    assert torch.allclose(y[y != 0].float(), torch.full_like(y[y != 0].float(), 1 / 0.9), rtol=1e-2)
    assert kernels.apply_dropout(x, 0.1, training=False) is x and kernels.apply_dropout(x, 0.0) is x
    torch.manual_seed(0)
    assert torch.equal(kernels.apply_dropout(x, 0.1), y)  # the torch seed fixes the mask


def _forward_logits_and_grads(bundle, context):
    from fedlib.training import batches

    batch = next(batches(encode(_rows(4), bundle.tokenizer, 32), bundle.tokenizer, 4, shuffle=False))
    bundle.reset(0)
    bundle.model.eval()  # no dropout: both paths see the same function
    bundle.model.zero_grad()
    with context():
        out = bundle.model(**batch)
    out.loss.backward()
    grads = {k: p.grad.clone() for k, p in bundle.model.named_parameters() if p.requires_grad}
    return out.logits.detach(), out.loss.detach(), grads


@pytest.mark.parametrize("method", ["ptuning", "lora"])
def test_emulated_bf16_matches_native_autocast(method):
    """fp32 kernels on bf16-rounded operands: autocast's numerics up to the order of fp32 sums."""
    bundle = get_bundle(ModelSpec("tiny-random", method, 7, num_virtual_tokens=4, precision="bf16"))
    native = _forward_logits_and_grads(bundle, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
    emulated = _forward_logits_and_grads(bundle, kernels.EmulatedBf16Autocast)
    assert emulated[0].dtype == native[0].dtype == torch.bfloat16 and emulated[1].dtype == torch.float32
    ulp = 2.0 ** -7 * native[0].abs().max()
    assert (emulated[0].float() - native[0].float()).abs().max() <= 2 * ulp
    assert torch.allclose(emulated[1], native[1], rtol=1e-2)
    for name, grad in native[2].items():
        assert torch.allclose(emulated[2][name], grad, rtol=5e-2, atol=1e-2 * grad.abs().max()), name


def test_bf16_on_a_cpu_without_bf16_instructions_uses_fp32_kernels(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2"}))
    assert isinstance(runtime.Runtime("cpu", "bf16").autocast(), kernels.EmulatedBf16Autocast)
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert isinstance(runtime.Runtime("cpu", "bf16").autocast(), torch.autocast)
    assert not isinstance(runtime.Runtime("cpu", "fp32").autocast(), (torch.autocast, kernels.EmulatedBf16Autocast))
    from fedlib.artifacts import environment

    assert environment()["cpu_bf16_native"] is True


def test_emulated_bf16_training_learns_and_is_deterministic(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2"}))
    bundle = get_bundle(ModelSpec("tiny-random", "lora", 7, num_virtual_tokens=4, precision="bf16"))
    data = encode(_rows(8), bundle.tokenizer, 32)
    states, losses = [], []
    for _ in range(2):
        bundle.reset(0)
        before = evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)["loss"]
        train_local(bundle.model, bundle.tokenizer, data, epochs=40, lr=1e-2, batch_size=8, seed=0,
                    progress=False, runtime=bundle.runtime)
        losses.append((before, evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)["loss"]))
        states.append({k: v.clone() for k, v in bundle.model.named_parameters() if v.requires_grad})
    assert losses[0][1] < 0.8 * losses[0][0], losses
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_attention_matches_transformers_eager():
    from transformers.models.xlm_roberta.modeling_xlm_roberta import eager_attention_forward

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    keep = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)[:, None, None, :].expand(2, 1, 5, 5)
    additive = torch.zeros(2, 1, 5, 5).masked_fill(~keep, torch.finfo(torch.float32).min)
    module = torch.nn.Module().eval()
    ours, _ = kernels.attention(module, q, k, v, keep, scaling=0.5)
    reference, _ = eager_attention_forward(module, q, k, v, additive, scaling=0.5)
    assert torch.allclose(ours, reference, atol=1e-6)


# ------------------------------------------------------------------ fp32 is today's path
# Final FedAvg arrays of a 2-round smoke run (tiny-random, seed 3, one torch thread), computed with
# commit dd969a7, before precision existed. fp32 on the CPU must reproduce them bit for bit. One thread
# fixes the order of the sums, but not the kernels: oneDNN/MKL pick other fp32 kernels on CPUs with AMX
# tiles, and other ones again on CPUs without AVX-512, so the reference depends on that. Every set was
# computed by dd969a7 itself (a worktree of it running this test's run_federated call): AVX-512 without
# AMX on an earlier machine, with AMX on 2026-12-02, AVX2 only (an AMD EPYC) on 2026-12-05.
FP32_REFERENCES = {
    "avx2": {
        "prompt": "8a694cd86dbbefbab8a742199d758692bd195048b891fd3d264fe7e2992d7df9",
        "ptuning": "2908d33779161e78ca88854eca6a747324a9cacc4ffb369455ecbaa49865ceb4",
        "lora": "34b5e8be1e73bdbf453be5eaf891c354c4b3f6a3ab34448dbaed36e877e31461",
        "full": "3601caeca18e81680363b32e1e91dbbbf4b421895c652cb347bbce180f8f86ed",
    },
    "avx512": {
        "prompt": "0e38a96fa930e562dabb6a95f2083227327a36f86ba88a26f269b49864160e3a",
        "ptuning": "84c07a18661d9da4bb1d75e87c2bd0ffe57999c584eaa4e7ed6761ec1c9d9a56",
        "lora": "2d1274f58523ef80e07a6637c12576e9711974cb3e0b7d54bb2b5d62b3e35843",
        "full": "73fe2c11ad1b82265fd5c3532532f01d9934ec02d8421f698d1aa5cfd23e13f1",
    },
    "amx": {
        "prompt": "b749daf2fe18bdd26f8b24885915bd6059798aa49e3fe6049295d06c11d10284",
        "ptuning": "b5306fd965538b84db38779d7b59907ec00ea7a9c3c1b48bf875e5d7b2273471",
        "lora": "659d8013a25d1cc06be4d2ab0d19d060405ce313a16701434e1442d9cc3872b8",
        "full": "465a541551f5c54ba21943237e9814cfb32c9140265434e051bf3b7240175b1c",
    },
}


def _kernel_family() -> str:
    flags = runtime.cpu_flags()
    return "amx" if "amx_tile" in flags else "avx512" if "avx512f" in flags else "avx2"


FP32_REFERENCE = FP32_REFERENCES[_kernel_family()]


@pytest.mark.parametrize("method", sorted(FP32_REFERENCE))
def test_fp32_is_bit_identical_to_the_path_before_precision(method, monkeypatch):
    from fedlib.federated import run_federated

    monkeypatch.setenv("FEDLIB_PRECISION", "fp32")
    monkeypatch.setenv("FEDLIB_DEVICE", "cpu")
    arrays = run_federated(ExperimentConfig(task="sib200", languages=LANGS, profile="smoke", method=method,
                                            rounds=2, seed=3, num_threads=1))["_final_arrays"]
    digest = hashlib.sha256()
    for key in sorted(arrays):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key], dtype=np.float32).tobytes())
    assert digest.hexdigest() == FP32_REFERENCE[method], f"kernel family {_kernel_family()}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs this)")
def test_cuda_device_reaches_the_model_and_the_batches():
    bundle = get_bundle(ModelSpec("tiny-random", "prompt", 7, num_virtual_tokens=4, precision="bf16",
                                  device="cuda:0"))
    assert {p.device.type for p in bundle.model.parameters()} == {"cuda"}
    data = encode(_rows(8), bundle.tokenizer, 32)
    report = train_local(bundle.model, bundle.tokenizer, data, epochs=1, lr=1e-2, batch_size=4, seed=0,
                         progress=False, runtime=bundle.runtime)
    assert report.epochs_run == 1
    assert evaluate(bundle.model, data, bundle.tokenizer, runtime=bundle.runtime)["num_examples"] == 8
