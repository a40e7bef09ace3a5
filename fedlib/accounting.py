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
