"""The built-in backbones' cached folders and how each is written from its source files.

``me5s-q4`` is multilingual-e5-small dequantised from its 4-bit copy onto XLM-R and saved as a
``from_pretrained`` folder; ``xlmr-tokenizer`` holds XLM-R's tokenizer alone (``tiny-random``
needs nothing else from disk).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

from fedlib.backbone.cache import Build, ensure_build
from fedlib.backbone.configs import backbone_kind, me5s_config
from fedlib.backbone.console import log, quiet_transformers
from fedlib.backbone.e5_q4 import E5S1FormatError, E5S1Header, read_e5s1, xlmr_state_dict
from fedlib.backbone.errors import BackboneAssetError

SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}


def _write_tokenizer(out: Path, sources: dict[str, Path]) -> None:
    """XLM-R's tokenizer as a ``from_pretrained`` folder that AutoTokenizer loads."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(sources["tokenizer.json"]),
        bos_token="<s>", cls_token="<s>", eos_token="</s>", sep_token="</s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )  # fmt: skip
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    if ids != SPECIAL_TOKENS or len(tokenizer) != 250002:
        raise BackboneAssetError(
            f"{sources['tokenizer.json']} is not XLM-R's tokenizer "
            f"(special ids {ids}, {len(tokenizer)} pieces)"
        )
    tokenizer.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "XLMRobertaTokenizer"  # so AutoTokenizer picks XLM-R's class
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


def _check_header(header: E5S1Header, path: Path, cfg: XLMRobertaConfig) -> None:
    got = (header.hidden, header.layers, header.heads, header.ffn, header.vocab,
           header.max_positions + 2)  # fmt: skip
    want = (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads,
            cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings)  # fmt: skip
    if got != want or abs(header.layer_norm_eps - cfg.layer_norm_eps) > 1e-15:
        raise E5S1FormatError(path, f"header {header} does not describe multilingual-e5-small")


def _write_me5s(out: Path, sources: dict[str, Path]) -> None:
    """Dequantise the E5S1 file onto XLM-R (strict keys) and save it with the tokenizer."""
    path = sources["e5-small-q4.bin"]
    start = time.perf_counter()
    try:
        header, tensors = read_e5s1(path)
    except OSError as exc:
        raise BackboneAssetError(f"cannot read {path}: {exc.strerror or exc}") from None
    cfg = me5s_config()
    _check_header(header, path, cfg)
    state = xlmr_state_dict(header, tensors)
    log.info("dequantised %d tensors (%.1f M weights) in %.1f s", len(tensors),
             sum(t.numel() for t in state.values()) / 1e6, time.perf_counter() - start)
    # Meta device: skip the random initialisation that load_state_dict overwrites anyway.
    with torch.device("meta"):
        model = XLMRobertaModel(cfg, add_pooling_layer=False)
    model.load_state_dict(state, strict=True, assign=True)  # raises on missing/unexpected keys
    with quiet_transformers():
        model.save_pretrained(out)
    _write_tokenizer(out, sources)


BUILDS = {
    "me5s-q4": Build("me5s-q4", ("e5-small-q4.bin", "tokenizer.json"), _write_me5s),
    "tokenizer": Build("xlmr-tokenizer", ("tokenizer.json",), _write_tokenizer),
}


def prepare_backbone(name: str = "me5s-q4", *, force: bool = False) -> Path | None:
    """Build (or verify) the cached folder of a built-in backbone and return it.

    ``me5s-q4`` returns its ``from_pretrained`` folder; ``tiny-random`` caches only the tokenizer
    and returns that folder. Hub ids need no preparation (None). ``force`` rebuilds regardless.
    """
    kind = backbone_kind(name)
    if kind == "external":
        return None
    build = BUILDS["me5s-q4" if kind == "me5s-q4" else "tokenizer"]
    return ensure_build(build, force=force)
