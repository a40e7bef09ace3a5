"""Loading a backbone by name: the cached me5s-q4 build, a seeded tiny-random, or any hub model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

from fedlib.backbone.builds import BUILDS
from fedlib.backbone.cache import ensure_build
from fedlib.backbone.configs import backbone_config, backbone_kind, from_hub
from fedlib.backbone.console import quiet_transformers

TINY_SEED = 0


def _load_folder(folder: Path, num_labels: int | None, for_classification: bool):
    """Load a verified build with the Auto classes; only the classifier head may be missing."""
    with quiet_transformers():
        if for_classification:
            extra = {} if num_labels is None else {"num_labels": num_labels}
            model, info = AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, **extra
            )
        else:
            model, info = AutoModel.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, add_pooling_layer=False
            )
    missing = [k for k in info["missing_keys"] if not k.startswith("classifier.")]
    bad = missing + list(info["unexpected_keys"]) + list(info.get("mismatched_keys", []))
    if bad:
        raise RuntimeError(f"{folder}: weights do not fit the model: {sorted(map(str, bad))[:5]}")
    return model, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _load_me5s(num_labels: int | None, for_classification: bool):
    folder = ensure_build(BUILDS["me5s-q4"])
    try:
        return _load_folder(folder, num_labels, for_classification)
    except (OSError, ValueError, RuntimeError) as exc:
        # Checksums passed but loading failed (e.g. files written by an incompatible version).
        folder = ensure_build(BUILDS["me5s-q4"], force=True,
                              reason=f"loading it failed ({type(exc).__name__}: {exc})")
        return _load_folder(folder, num_labels, for_classification)


def _load_tiny(num_labels: int | None, for_classification: bool):
    cfg = backbone_config("tiny-random", num_labels)
    # A private RNG stream: the same weights every time, whatever the caller's seed state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        if for_classification:
            model = XLMRobertaForSequenceClassification(cfg)
        else:
            model = XLMRobertaModel(cfg, add_pooling_layer=False)
    model.eval()  # like from_pretrained
    return model, load_tokenizer("tiny-random")


def _load_external(name: str, num_labels: int | None, for_classification: bool):
    if for_classification:
        extra = {} if num_labels is None else {"num_labels": num_labels}
        model = from_hub(AutoModelForSequenceClassification.from_pretrained, name, **extra)
    else:
        model = from_hub(AutoModel.from_pretrained, name)
    return model, from_hub(AutoTokenizer.from_pretrained, name)


def load_backbone(
    name: str = "me5s-q4", num_labels: int | None = None, *, for_classification: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """``(model, tokenizer)`` for a backbone name (see :mod:`fedlib.backbone` for the names).

    With ``for_classification`` the model is an ``XLMRobertaForSequenceClassification`` with a
    new ``num_labels``-way head (drawn from the global torch RNG, except for ``tiny-random``,
    which is seeded as a whole); otherwise the bare encoder (``XLMRobertaModel``, without pooler
    for the built-ins; ``num_labels`` is then ignored). Models are returned in eval mode.
    Built-in names win over local folders of the same name. Hub ids load from the local Hugging Face
    cache when it holds them, else need the hub: with ``HF_HUB_OFFLINE=1``, or when the hub does not
    answer within a few seconds, a :class:`BackboneUnavailableError` says what to use instead.
    """
    kind = backbone_kind(name)
    if kind == "me5s-q4":
        return _load_me5s(num_labels, for_classification)
    if kind == "tiny-random":
        return _load_tiny(num_labels, for_classification)
    return _load_external(name, num_labels, for_classification)


def load_tokenizer(name: str = "me5s-q4") -> PreTrainedTokenizerFast:
    """The tokenizer of a backbone; for the built-ins (XLM-R's) without building any model."""
    if backbone_kind(name) == "external":
        return from_hub(AutoTokenizer.from_pretrained, name)
    folder = ensure_build(BUILDS["tokenizer"])
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        folder = ensure_build(BUILDS["tokenizer"], force=True,
                              reason=f"loading it failed ({type(exc).__name__}: {exc})")
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
