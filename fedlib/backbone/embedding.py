"""E5-style sentence embeddings from any backbone's encoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerFast


def embed_sentences(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    max_length: int = 128,
    batch_size: int = 16,
    prefix: str = "query: ",
) -> np.ndarray:
    """E5-style sentence embeddings: ``(len(texts), hidden)`` float32, L2-normalised.

    The encoder's last hidden states are mean-pooled over the attention mask. A classification
    model is accepted too (its encoder is used). ``prefix`` is E5's input convention.
    """
    encoder = model.base_model if isinstance(model, PreTrainedModel) else model
    device = next(encoder.parameters()).device
    chunks = [np.zeros((0, encoder.config.hidden_size), dtype=np.float32)]
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(
                    [prefix + str(t) for t in texts[start : start + batch_size]],
                    padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                ).to(device)  # fmt: skip
                hidden = encoder(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(chunks)
