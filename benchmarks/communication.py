"""Communication: bytes per client and round for prompt, ptuning, LoRA and full fine-tuning.

Read from the records of real 1-round runs (the cpu profile's backbone, me5s-q4) and built from
parameter shapes alone on the meta device (the paper profile's XLM-RoBERTa base).
"""

from __future__ import annotations

import gc
from collections import OrderedDict

from benchmarks.harness import Options, log
from fedlib.benchresults import check

TITLE = "Communication per round"


def shape_payloads(backbone: str, method: str, num_labels: int, *, num_virtual_tokens: int,
                   lora_rank: int = 8) -> dict:
    """Bytes of the messages a round exchanges, from the parameter shapes alone.

    The model is built on the meta device (:func:`fedlib.accounting.meta_model`), zeros are
    materialised for the trainable parameters only, and the records are the ones the engines send:
    ``{"arrays", "config"}`` to the client, ``{"arrays", "metrics"}`` back (see ``federated/client_app.py``).
    """
    import torch
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    from fedlib.accounting import meta_model
    from fedlib.federated.records import payload_bytes, state_to_arrays

    model = meta_model(backbone, method, num_labels, num_virtual_tokens=num_virtual_tokens, lora_rank=lora_rank)
    state = OrderedDict((name, torch.zeros(p.shape, dtype=torch.float32))
                        for name, p in model.named_parameters() if p.requires_grad)
    arrays = state_to_arrays(state)
    down = payload_bytes(RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": 1})}))
    metrics = MetricRecord({"num-examples": 1, "train-loss": 0.0, "client-index": 0, "seconds": 0.0})
    up = payload_bytes(RecordDict({"arrays": arrays, "metrics": metrics}))
    return {"parameters": int(sum(t.numel() for t in state.values())), "bytes_down": down, "bytes_up": up}


def run(opts: Options, result: dict) -> None:
    from fedlib.accounting import count_for
    from fedlib.config import get_profile
    from fedlib.data import get_task
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated
    from fedlib.methods import METHODS
    from fedlib.model import clear_bundles

    profile = "smoke" if opts.quick else "cpu"
    num_labels = len(get_task("sib200").label_names)
    measured: dict[str, dict] = {}
    backbone = None
    for method in METHODS:
        cfg = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile=profile, method=method, rounds=1,
                               train_per_client=4, val_per_client=4, eval_per_client=4, batch_size=4, seed=0)
        resolved = cfg.resolved()
        backbone = resolved.backbone
        log(f"communication: 1-round run, {backbone}, {method}")
        history = run_federated(cfg)
        client = history["rounds"][0]["clients"]["eng_Latn"]
        measured[method] = {"bytes_down": client["bytes_sent"], "bytes_up": client["bytes_received"],
                            "from_shapes": shape_payloads(backbone, method, num_labels,
                                                          num_virtual_tokens=resolved.num_virtual_tokens,
                                                          lora_rank=resolved.lora_rank)}
        del history
        clear_bundles()  # each method's bundle is a whole backbone; keep at most one alive
        gc.collect()
    paper = get_profile("paper")
    xlmr = paper.backbone
    shapes: dict[str, dict] = {}
    for method in METHODS:
        log(f"communication: shapes, {xlmr}, {method}")
        shapes[method] = shape_payloads(xlmr, method, num_labels, num_virtual_tokens=paper.num_virtual_tokens)
        gc.collect()
    result["settings"] = {"task": "sib200", "num_labels": num_labels, "measured_backbone": backbone,
                          "measured_profile": profile, "shapes_backbone": xlmr,
                          "shapes_num_virtual_tokens": paper.num_virtual_tokens,
                          "unit": "bytes per client per round (down = server to client, up = client to server)"}
    result["samples"] = {"measured": measured, "shapes": shapes}
    result["medians"] = {f"{backbone}_{m}_bytes": v["bytes_down"] + v["bytes_up"] for m, v in measured.items()}
    result["medians"].update({f"{xlmr}_{m}_bytes": v["bytes_down"] + v["bytes_up"] for m, v in shapes.items()})
    result["consistency"] = {f"{backbone}_{m}_records_equal_shapes":
                             (v["bytes_down"], v["bytes_up"])
                             == (v["from_shapes"]["bytes_down"], v["from_shapes"]["bytes_up"])
                             for m, v in measured.items()}
    result["consistency"].update({  # the shapes send exactly what fedlib.accounting counts as communicated
        f"{xlmr}_{m}_shapes_equal_accounting":
            v["parameters"] == count_for(xlmr, m, num_labels, num_virtual_tokens=paper.num_virtual_tokens).communicated
        for m, v in shapes.items()})

    def add(label: str, table: dict, method: str, targeted: bool):
        total = {m: v["bytes_down"] + v["bytes_up"] for m, v in table.items()}
        ratio = total[method] / total["full"]
        result["checks"].append(check(
            f"{method} / full, {label}", ratio, unit="%", target="<= 0.005" if targeted else None,
            detail=f"{total[method] / 1e3:,.1f} kB vs {total['full'] / 1e6:,.1f} MB per client and round (down + up)"))

    for label, table in ((f"{backbone} (records)", measured), (f"{xlmr.split('/')[-1]} (shapes)", shapes)):
        for method in ("prompt", "ptuning", "lora"):
            add(label, table, method, targeted=method == "prompt")
    if opts.quick:
        result["notes"].append("quick mode: records measured on tiny-random instead of me5s-q4")
