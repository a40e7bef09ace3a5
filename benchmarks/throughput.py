"""Training throughput: ms per example of ``train_local`` and ``evaluate``, fp32 vs bf16, against the floor.

The floor is the step's FLOPs at the bf16 peak of plain matrix products on the same device; the
profile of the bf16 step says where the rest goes. On the CPU, the client-scaling runs
(:mod:`benchmarks.scaling`) are part of the same result.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable

from benchmarks import scaling
from benchmarks.harness import Arm, Options, alternate, log, median, paired_ratio
from fedlib.benchresults import check

TITLE = "Training throughput"


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def gemm_gflops(dtype, shapes: list[tuple[int, int, int]], device: str = "cpu",
                min_seconds: float = 0.5) -> dict[str, float]:
    """GFLOP/s of plain ``a @ b`` for each (m, k, n) shape: the machine's peak for that dtype."""
    import torch

    rates = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype, device=device), torch.randn(k, n, dtype=dtype, device=device)
        a @ b  # first call selects the kernel
        synchronize(device)
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds or calls < 3:
            for _ in range(10):
                a @ b
            calls += 10
            synchronize(device)
        rates[f"{m}x{k}x{n}"] = 2.0 * m * k * n * calls / elapsed / 1e9
    return rates


def train_ms(bundle, encoded, *, batch_size: int, lr: float, seed: int):
    """ms per example of one ``train_local`` epoch (the library's own loop) in the bundle's runtime."""
    from fedlib.training import train_local

    def go():
        bundle.reset(seed)
        report = train_local(bundle.model, bundle.tokenizer, encoded, epochs=1, lr=lr, batch_size=batch_size,
                             seed=seed, progress=False, runtime=bundle.runtime)
        return report.seconds * 1000 / len(encoded)
    return go


def eval_ms(bundle, encoded, batch_size: int = 32):
    from fedlib.training import evaluate

    def go():
        start = time.perf_counter()
        evaluate(bundle.model, encoded, bundle.tokenizer, batch_size, runtime=bundle.runtime)
        synchronize(bundle.runtime.device)
        return (time.perf_counter() - start) * 1000 / len(encoded)
    return go


@contextlib.contextmanager
def random_weight_backbones():
    """Bundles built meanwhile get randomly initialised backbones of the named model's shapes.

    Throughput depends on shapes only, so a machine without the backbone's files (a GPU machine with
    no hub) still measures the real model's speed (``--random-weights``). Only the tokenizer's file
    is needed (any XLM-R backbone shares it).
    """
    from transformers import AutoModelForSequenceClassification

    import fedlib.backbone as backbones

    original = backbones.load_backbone

    def shapes_only(name, num_labels=None, *, for_classification=True):
        model = AutoModelForSequenceClassification.from_config(backbones.backbone_config(name, num_labels))
        try:
            tokenizer = backbones.load_tokenizer(name)
        except Exception:  # a hub model's tokenizer out of reach: XLM-R's vocabulary is the same
            tokenizer = backbones.load_tokenizer("me5s-q4")
        return model.eval(), tokenizer

    backbones.load_backbone = shapes_only
    try:
        yield
    finally:
        backbones.load_backbone = original


def top_ops(fn: Callable[[], object], limit: int = 12) -> list[dict]:
    """Where the time of one call goes: the ops with the most self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in events[:limit]]


def run(opts: Options, result: dict) -> None:
    """Training and evaluation against the floor: FLOPs at the bf16 peak of plain matrix products."""
    import dataclasses as dc

    import torch

    from fedlib.backbone import backbone_config
    from fedlib.client_datasets import build_clients
    from fedlib.experiment import ExperimentConfig
    from fedlib.flops import step_flops
    from fedlib.model import get_bundle, model_spec, num_labels_of
    from fedlib.training import batches, encode

    profile = "smoke" if opts.quick else "cpu"
    rows, batch_size, seed = (16, 8, 0) if opts.quick else (64, 8, 0)
    device = opts.device
    backbone = os.environ.get("FEDLIB_BACKBONE") or None
    base = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile=profile, method="prompt",
                            train_per_client=rows, eval_per_client=rows, batch_size=batch_size, seed=seed,
                            backbone=backbone)
    configs = {p: dc.replace(base, precision=p, device=device).resolved() for p in ("fp32", "bf16")}
    cfg = configs["fp32"]
    client = build_clients(cfg)[0]
    if opts.random_weights:
        with random_weight_backbones():
            bundles = {p: get_bundle(model_spec(c, num_labels_of(c))) for p, c in configs.items()}
        result["notes"].append("random weights of the backbone's shapes (--random-weights): speed only")
    else:
        bundles = {p: get_bundle(model_spec(c, num_labels_of(c))) for p, c in configs.items()}
    tokenizer = bundles["fp32"].tokenizer
    encoded = encode(client.train, tokenizer, cfg.max_length)
    test = encode(client.test, tokenizer, cfg.max_length)

    # FLOPs of exactly the batches trained and evaluated (dynamic padding: each batch's longest row).
    model_config = backbone_config(cfg.backbone, num_labels_of(cfg))
    virtual = cfg.num_virtual_tokens

    def padded_lengths(data, size, shuffle, batch_seed=0):
        return [batch["input_ids"].shape[1] + virtual for batch in batches(data, tokenizer, size, shuffle=shuffle,
                                                                              seed=batch_seed)
                for _ in range(len(batch["labels"]))]

    train_lengths = padded_lengths(encoded, batch_size, True, seed * 1_000 + 1)
    eval_lengths = padded_lengths(test, 32, False)
    labels = num_labels_of(cfg)
    train_flops = step_flops(model_config, train_lengths, labels, training=True) / len(train_lengths)
    eval_flops = step_flops(model_config, eval_lengths, labels, training=False) / len(eval_lengths)

    big = 512 if opts.quick else 2048
    tokens = batch_size * int(statistics.mean(train_lengths))
    shapes = [(big, big, big), (tokens, model_config.hidden_size, model_config.hidden_size),
              (tokens, model_config.hidden_size, model_config.intermediate_size)]
    peaks = {"fp32": gemm_gflops(torch.float32, shapes, device), "bf16": gemm_gflops(torch.bfloat16, shapes, device)}

    arms = [Arm("train fp32", train_ms(bundles["fp32"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed),
                opts.repeats),
            Arm("train bf16", train_ms(bundles["bf16"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed),
                opts.repeats),
            Arm("eval fp32", eval_ms(bundles["fp32"], test), opts.repeats),
            Arm("eval bf16", eval_ms(bundles["bf16"], test), opts.repeats)]
    log("throughput: warm-up")
    for arm in arms:  # first calls pay one-off allocation and kernel selection costs
        arm.measure()
    values = alternate(arms)
    m = {name: median(v) for name, v in values.items()}
    bf16_peak = max(peaks["bf16"].values())
    floor_train = train_flops / (bf16_peak * 1e9) * 1000
    floor_eval = eval_flops / (bf16_peak * 1e9) * 1000
    figures = {
        "gemm_gflops_fp32": max(peaks["fp32"].values()), "gemm_gflops_bf16": bf16_peak,
        "flops_per_example": train_flops, "eval_flops_per_example": eval_flops,
        "floor_ms_per_example": floor_train, "eval_floor_ms_per_example": floor_eval,
        "train_ms_per_example_fp32": m["train fp32"], "train_ms_per_example_bf16": m["train bf16"],
        "eval_ms_per_example_fp32": m["eval fp32"], "eval_ms_per_example_bf16": m["eval bf16"],
        "train_ratio_to_floor": m["train bf16"] / floor_train, "eval_ratio_to_floor": m["eval bf16"] / floor_eval,
        "speedup_train_vs_fp32": paired_ratio(values["train fp32"], values["train bf16"]),
        "speedup_eval_vs_fp32": paired_ratio(values["eval fp32"], values["eval bf16"]),
    }
    bundles["bf16"].reset(seed)
    profiled = top_ops(train_ms(bundles["bf16"], encoded, batch_size=batch_size, lr=cfg.lr, seed=seed))
    for bundle in bundles.values():
        bundle.reset(seed)
    result["settings"] = {"task": "sib200", "language": "eng_Latn", "backbone": cfg.backbone, "method": cfg.method,
                          "device": device, "rows": rows, "test_rows": len(test), "batch_size": batch_size,
                          "max_length": cfg.max_length, "num_virtual_tokens": virtual,
                          "mean_tokens_trained": float(statistics.mean(train_lengths)),
                          "torch_threads": torch.get_num_threads(), "unit": "ms per example",
                          "gemm_gflops": peaks, "bf16_train_top_ops": profiled}
    result["samples"] = values
    result["medians"] = {**m, **figures}
    result["checks"].append(check("train: bf16 ms / floor", figures["train_ratio_to_floor"], target="<= 3",
                                  detail=f"{m['train bf16']:.1f} ms vs floor {floor_train:.1f} ms per example"))
    result["checks"].append(check("train: fp32 / bf16 ms (speed-up)", figures["speedup_train_vs_fp32"], target=">= 3",
                                  detail=f"{m['train fp32']:.1f} vs {m['train bf16']:.1f} ms per example"))
    result["checks"].append(check("eval: bf16 ms / floor", figures["eval_ratio_to_floor"],
                                  detail=f"{m['eval bf16']:.1f} ms vs floor {floor_eval:.1f} ms per example"))
    result["checks"].append(check("eval: fp32 / bf16 ms (speed-up)", figures["speedup_eval_vs_fp32"],
                                  detail=f"{m['eval fp32']:.1f} vs {m['eval bf16']:.1f} ms per example"))
    result["notes"].append(
        "floor = FLOPs of the batches trained (dynamic padding, virtual tokens included; frozen weights need no "
        "weight gradients) at the bf16 peak of plain matrix products; element-wise work is not counted")
    if device == "cpu":  # the scaling runs are CPU processes of the in-process engine
        scaling.run(opts, result)
    if opts.quick:
        result["notes"].append("quick mode: tiny-random backbone, 16 rows")
