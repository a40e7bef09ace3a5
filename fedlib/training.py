"""Local training and evaluation: the loop every client, baseline and paradigm shares.

AdamW, early stopping on validation accuracy, dynamic padding, deterministic seeds, and progress
bars that stay quiet in tests (``progress=False`` or ``FEDLIB_PROGRESS=0``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from fedlib.methods import load_trainable_state, trainable_state
from fedlib.runtime import Runtime, runtime_of

MODEL_INPUTS = ("input_ids", "attention_mask")


def progress_enabled(progress: bool | None = None) -> bool:
    if progress is not None:
        return progress
    return os.environ.get("FEDLIB_PROGRESS", "1") != "0"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; every training call does this first."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def encode(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> Dataset:
    """Tokenize the schema's ``text`` (and ``text_pair`` when present) without padding.

    Padding happens per batch (dynamic padding), so short batches stay short.
    """
    has_pair = "text_pair" in dataset.column_names and any(dataset["text_pair"])
    pair = dataset["text_pair"] if has_pair else None
    # Tokenize directly rather than with Dataset.map, whose fingerprinting pickles the whole
    # tokenizer on every call (seconds each time).
    enc = tokenizer(list(dataset["text"]), pair and list(pair), truncation=True, max_length=max_length)
    return Dataset.from_dict({**{key: enc[key] for key in MODEL_INPUTS}, "label": list(dataset["label"])})


def evaluation_order(encoded: Dataset) -> np.ndarray:
    """Row order of evaluation batches: by length, which minimises padding (metrics do not care)."""
    return np.argsort(np.array([len(ids) for ids in encoded["input_ids"]]), kind="stable")


def batches(encoded: Dataset, tokenizer, batch_size: int, *, shuffle: bool, seed: int = 0):
    """Yield padded batches; shuffled with a seeded generator, or sorted by length to pad less."""
    if shuffle:
        order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(seed)).numpy()
    else:
        order = evaluation_order(encoded)
    collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    rows = encoded.to_dict()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        features = [{key: rows[key][i] for key in (*MODEL_INPUTS, "label")} for i in idx]
        batch = collate(features)
        batch["labels"] = batch.pop("label") if "label" in batch else batch.pop("labels")
        yield batch


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> float:
    """Macro-averaged F1 over the labels that occur in ``labels`` or ``predictions``."""
    scores = []
    for cls in range(num_labels):
        tp = np.sum((predictions == cls) & (labels == cls))
        fp = np.sum((predictions == cls) & (labels != cls))
        fn = np.sum((predictions != cls) & (labels == cls))
        if tp + fp + fn == 0:
            continue  # label absent on both sides: no evidence either way
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


@torch.inference_mode()
def evaluate(model, encoded: Dataset, tokenizer, batch_size: int = 32, *,
             runtime: Runtime | None = None, keep_predictions: bool = False) -> dict:
    """Accuracy, macro-F1 and mean loss of ``model`` on an encoded dataset.

    ``runtime``: device and precision (default: those of the model, :func:`fedlib.runtime.runtime_of`).
    ``keep_predictions`` adds ``predictions`` and ``labels`` (label ids in the dataset's row order).
    """
    if len(encoded) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    runtime = runtime or runtime_of(model)
    model.eval()
    labels, predictions, loss_sum = [], [], 0.0
    for batch in batches(encoded, tokenizer, batch_size, shuffle=False):
        batch = runtime.to_device(batch)
        with runtime.autocast():
            out = model(**batch)
        loss_sum += float(out.loss) * len(batch["labels"])
        labels.append(batch["labels"].cpu().numpy())
        predictions.append(out.logits.argmax(-1).cpu().numpy())
    y, p = np.concatenate(labels), np.concatenate(predictions)
    num_labels = model.config.num_labels
    out = {
        "accuracy": float(np.mean(y == p)),
        "macro_f1": macro_f1(y, p, num_labels),
        "loss": loss_sum / len(y),
        "num_examples": int(len(y)),
    }
    if keep_predictions:  # batches() visits rows in length order: put them back in row order
        order = evaluation_order(encoded)
        rows_p, rows_y = np.empty_like(p), np.empty_like(y)
        rows_p[order], rows_y[order] = p, y
        out["predictions"], out["labels"] = rows_p.tolist(), rows_y.tolist()
    return out


@dataclasses.dataclass
class TrainReport:
    """What one call of :func:`train_local` did."""

    epochs_run: int
    best_epoch: int  # 0 = the initial parameters were best
    best_val_accuracy: float | None
    train_loss: float
    num_examples: int  # training examples per epoch
    seconds: float
    history: list[dict[str, float]]


def train_local(
    model,
    tokenizer,
    train: Dataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    validation: Dataset | None = None,
    patience: int | None = None,
    proximal_mu: float = 0.0,
    progress: bool | None = None,
    desc: str = "train",
    runtime: Runtime | None = None,
) -> TrainReport:
    """Train the model's trainable parameters on an encoded ``train`` set.

    With ``validation``, every epoch is evaluated, the best parameters are restored at the end, and
    training stops after ``patience`` epochs without improvement. ``proximal_mu > 0`` adds FedProx's
    proximal term towards the parameters the call started from. ``runtime``: the device and precision
    to compute in (default: the model's own, :func:`fedlib.runtime.runtime_of`); autocast is entered
    per forward pass.
    """
    runtime = runtime or runtime_of(model)
    if len(train) == 0:
        raise ValueError(f"{desc}: no training examples")
    if epochs < 1 or lr <= 0 or batch_size < 1:
        raise ValueError(f"{desc}: need epochs >= 1, lr > 0, batch_size >= 1 (got {epochs}, {lr}, {batch_size})")
    seed_everything(seed)
    start = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params] if proximal_mu > 0 else None
    optimizer = torch.optim.AdamW(params, lr=lr)
    best_state, best_acc, best_epoch, stale = None, None, 0, 0
    history: list[dict[str, float]] = []
    steps_per_epoch = -(-len(train) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not progress_enabled(progress), leave=False)
    loss_sum, loss_n = 0.0, 0
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, loss_n = 0.0, 0
        for batch in batches(train, tokenizer, batch_size, shuffle=True, seed=seed * 1_000 + epoch):
            batch = runtime.to_device(batch)
            with runtime.autocast():
                loss = model(**batch).loss
            if anchor is not None:
                loss = loss + proximal_mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(params, anchor, strict=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(batch["labels"])
            loss_n += len(batch["labels"])
            bar.update(1)
        record = {"epoch": epoch, "train_loss": loss_sum / loss_n}
        if validation is not None:
            val = evaluate(model, validation, tokenizer, runtime=runtime)
            record.update({f"val_{k}": v for k, v in val.items() if k != "num_examples"})
            if best_acc is None or val["accuracy"] > best_acc:
                best_state, best_acc, best_epoch, stale = trainable_state(model), val["accuracy"], epoch, 0
            else:
                stale += 1
        history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}")
        if patience is not None and validation is not None and stale >= patience:
            break
    bar.close()
    if best_state is not None:
        load_trainable_state(model, best_state)
    return TrainReport(
        epochs_run=epoch, best_epoch=best_epoch if validation is not None else epoch,
        best_val_accuracy=best_acc, train_loss=loss_sum / max(loss_n, 1), num_examples=len(train),
        seconds=time.perf_counter() - start, history=history,
    )


def state_to_numpy(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: tensor.detach().cpu().numpy() for name, tensor in state.items()}
