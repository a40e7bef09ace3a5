"""Backbone names and their model configurations, answered without any weights."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from transformers import AutoConfig, PretrainedConfig, XLMRobertaConfig

from fedlib.backbone.errors import BackboneUnavailableError

BUILTIN_BACKBONES: dict[str, str] = {
    "me5s-q4": "multilingual-e5-small (XLM-R architecture, 117.5 M parameters) rebuilt offline "
    "from its 4-bit copy",
    "tiny-random": "2-layer, hidden-32 XLM-R with random weights and the real tokenizer (tests)",
}


def _xlmr_config(
    vocab: int, hidden: int, layers: int, heads: int, ffn: int, eps: float
) -> XLMRobertaConfig:
    """An XLM-R configuration; the backbones here differ only in these sizes and the eps."""
    return XLMRobertaConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=ffn, max_position_embeddings=514, type_vocab_size=1,
        layer_norm_eps=eps, hidden_act="gelu", hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, initializer_range=0.02,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip


def me5s_config() -> XLMRobertaConfig:
    """multilingual-e5-small as XLM-R; differs from XLM-R in eps and its padded vocabulary."""
    return _xlmr_config(vocab=250037, hidden=384, layers=12, heads=12, ffn=1536, eps=1e-12)


def _tiny_config() -> XLMRobertaConfig:
    # The real 250,002-piece vocabulary stays so the real tokenizer works; all else is tiny.
    return _xlmr_config(vocab=250002, hidden=32, layers=2, heads=2, ffn=64, eps=1e-5)


def _xlmr_base_config() -> XLMRobertaConfig:
    """The public config.json of FacebookAI/xlm-roberta-base, for offline parameter counts."""
    return _xlmr_config(vocab=250002, hidden=768, layers=12, heads=12, ffn=3072, eps=1e-5)


_KNOWN_CONFIGS: dict[str, Callable[[], XLMRobertaConfig]] = {
    "me5s-q4": me5s_config,
    "tiny-random": _tiny_config,
    "FacebookAI/xlm-roberta-base": _xlmr_base_config,
}


def backbone_kind(name: str) -> str:
    """``name`` itself for a built-in, ``"external"`` for a hub id or path; else ValueError."""
    if name in BUILTIN_BACKBONES:
        return name
    if "/" in name or os.sep in name or Path(name).expanduser().exists():
        return "external"
    builtins = "; ".join(f"{k!r}: {v}" for k, v in BUILTIN_BACKBONES.items())
    close = difflib.get_close_matches(name, BUILTIN_BACKBONES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown backbone {name!r}.{hint} Built-in backbones: {builtins}. Any other name must "
        "be a Hugging Face hub id containing '/' (e.g. 'FacebookAI/xlm-roberta-base') or an "
        "existing local folder."
    )


def unavailable_error(name: str, exc: Exception | str) -> BackboneUnavailableError:
    """The error for a hub id or path that cannot be loaded (``exc``: what failed), with what to do."""
    from huggingface_hub.constants import HF_HUB_CACHE

    return BackboneUnavailableError(
        f"backbone {name!r} could not be reached: {exc}. It is neither a complete local folder nor in "
        f"the local Hugging Face cache ({HF_HUB_CACHE}), and machines without internet cannot reach the hub. Use the "
        "built-in 'me5s-q4' backbone instead (FEDLIB_PROFILE=cpu), set FEDLIB_BACKBONE to a local "
        "folder holding the model (e.g. one written by save_pretrained), or run where the hub is reachable."
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _in_hub_cache(name: str) -> bool:
    """Whether the local Hugging Face cache holds ``name``'s config (the model may still be partial)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def _hub_unavailable() -> str | None:
    """Why the hub cannot serve a model now (switched off, or no answer within a few seconds), else None."""
    from fedlib.config import HUB_PROBE_SECONDS, env_flag, hub_endpoint, hub_reachable

    switched_off = env_flag("HF_HUB_OFFLINE", "FEDLIB_OFFLINE")
    if switched_off:
        return f"the Hugging Face hub is switched off ({switched_off})"
    if not hub_reachable():
        return f"no answer from the Hugging Face hub ({hub_endpoint()}) within {HUB_PROBE_SECONDS:g} s"
    return None


def from_hub(load: Callable[..., object], name: str, **kwargs):
    """``load(name, **kwargs)`` (a ``from_pretrained``) for an external backbone, without a minute of
    retries when the hub is not there: a local folder loads as it is; a model in the local Hugging Face
    cache loads with ``local_files_only``; anything else first checks that the hub is on
    (``HF_HUB_OFFLINE`` / ``FEDLIB_OFFLINE``) and answers within a few seconds. Every failure is a
    :class:`BackboneUnavailableError` saying what to do."""
    if not Path(name).expanduser().exists():
        if _looks_like_path(name):
            raise unavailable_error(name, "there is no such local folder")
        if _in_hub_cache(name):
            try:
                return load(name, local_files_only=True, **kwargs)
            except (OSError, ValueError):
                pass  # only part of it is cached: fetch the rest when the hub is there
        reason = _hub_unavailable()
        if reason:
            raise unavailable_error(name, reason)
    try:
        return load(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise unavailable_error(name, f"from_pretrained failed ({type(exc).__name__}: {exc})") from exc


def backbone_config(name: str = "me5s-q4", num_labels: int | None = None) -> PretrainedConfig:
    """The model configuration of a backbone, without loading (or building) any weights.

    ``me5s-q4``, ``tiny-random`` and ``FacebookAI/xlm-roberta-base`` are answered offline, so
    parameter counts can be computed with ``torch.device("meta")`` models; other hub ids and
    paths go through ``AutoConfig``.
    """
    kind = backbone_kind(name)
    if name in _KNOWN_CONFIGS:
        cfg = _KNOWN_CONFIGS[name]()
    else:
        assert kind == "external"
        cfg = from_hub(AutoConfig.from_pretrained, name)
    if num_labels is not None:
        cfg.num_labels = num_labels
    return cfg
