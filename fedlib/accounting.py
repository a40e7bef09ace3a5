"""Parameter and communication accounting from a backbone's config alone (no weights needed).

Models are instantiated on PyTorch's ``meta`` device, so the paper's XLM-RoBERTa base can be counted
offline exactly as the embedded backbone is.
"""

from __future__ import annotations

import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification

from fedlib.methods import METHODS, ParameterCount, apply_method, count_parameters

BYTES_PER_PARAMETER = 4  # float32 on the wire


def meta_model(backbone: str, method: str, num_labels: int, *, num_virtual_tokens: int = 20,
               lora_rank: int = 8) -> torch.nn.Module:
    """``backbone``'s architecture with ``method`` applied, on the meta device: shapes, no weights."""
    from fedlib.backbone import backbone_config

    config = backbone_config(backbone, num_labels=num_labels)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
        return apply_method(model, method, num_virtual_tokens=num_virtual_tokens, lora_rank=lora_rank)


def count_for(backbone: str, method: str, num_labels: int, *, num_virtual_tokens: int = 20,
              lora_rank: int = 8) -> ParameterCount:
    """Parameter accounting of ``method`` on ``backbone``'s architecture, built on the meta device."""
    return count_parameters(meta_model(backbone, method, num_labels, num_virtual_tokens=num_virtual_tokens,
                                       lora_rank=lora_rank))


def parameter_table(backbones: list[str], num_labels: int, methods=METHODS, **kwargs) -> pd.DataFrame:
    """One row per backbone and method: total, trainable (by group), per-round upload in MB."""
    rows = []
    for backbone in backbones:
        for method in methods:
            count = count_for(backbone, method, num_labels, **kwargs)
            rows.append({
                "backbone": backbone, "method": method, "total": count.total,
                "trainable": count.trainable, **{f"{group}_params": n for group, n in count.trainable_by_group.items()},
                "trainable_pct": 100 * count.trainable_fraction,
                "upload_MB_per_round": count.communicated * BYTES_PER_PARAMETER / 1e6,
                "saving_pct": 100 * count.communication_saving,
            })
    return pd.DataFrame(rows)


def parameter_numbers(table: pd.DataFrame, backbone: str = "FacebookAI/xlm-roberta-base") -> dict[str, float]:
    """What chapter 2 quotes of :func:`parameter_table` (millions, percent, MB) beside the paper's counts."""
    from fedlib.paper import REPORTED_TOTAL_PARAMETERS, REPORTED_TRAINABLE_PARAMETERS

    rows = table[table["backbone"] == backbone].set_index("method")
    return {
        "xlmr_total_m": float(rows.loc["full", "total"] / 1e6),
        "xlmr_ptuning_trainable_m": float(rows.loc["ptuning", "trainable"] / 1e6),
        "xlmr_prompt_trainable_m": float(rows.loc["prompt", "trainable"] / 1e6),
        "xlmr_ptuning_saving": float(rows.loc["ptuning", "saving_pct"]),
        "xlmr_prompt_saving": float(rows.loc["prompt", "saving_pct"]),
        "xlmr_full_mb": float(rows.loc["full", "upload_MB_per_round"]),
        "xlmr_ptuning_mb": float(rows.loc["ptuning", "upload_MB_per_round"]),
        "paper_trainable_m": float(REPORTED_TRAINABLE_PARAMETERS / 1e6),
        "paper_total_m": float(REPORTED_TOTAL_PARAMETERS / 1e6),
    }
