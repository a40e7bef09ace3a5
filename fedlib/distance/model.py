"""Model-based distances: how far apart a backbone represents translations of the same sentences.

``model_cosine`` is ``1 - mean_i cos(e_a[i], e_b[i])`` over mean-pooled sentence embeddings of
parallel sentences (range [0, 2]); ``model_cka`` is ``1 - linear CKA`` of the two languages'
embedding matrices (range [0, 1]; Kornblith et al. 2019).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import pandas as pd

from fedlib.config import Profile
from fedlib.data.languages import known_codes
from fedlib.distance.errors import MissingParallelDataError
from fedlib.distance.matrix import MODEL_KINDS, check_kind, symmetric_frame
from fedlib.distance.parallel import sentences_by_code, source_code

# Parallel sentences per language and their token limit: a handful on the smoke profile, 32 on the
# 2-core cpu profile (each language costs a few seconds), 200 on the paper profile.
SENTENCES = {"smoke": (8, 32), "cpu": (32, 64)}
PAPER_SENTENCES = (200, 128)


def model_options(profile: Profile) -> dict[str, object]:
    """The :func:`model_matrix` options a profile affords: backbone, source, sentences, token limit."""
    n, max_length = SENTENCES.get(profile.name, PAPER_SENTENCES)
    return {"backbone": profile.backbone, "source": "flores", "n": n, "max_length": max_length}


@functools.lru_cache(maxsize=2)
def _encoder(backbone: str):
    from fedlib.backbone import load_backbone

    return load_backbone(backbone, for_classification=False)


EMBEDDINGS: dict[tuple, np.ndarray] = {}  # (backbone, source, code, n, max_length) -> (n, hidden)


def sentence_embeddings(lang: str, *, backbone: str, source: str = "flores", n: int = 64,
                        max_length: int = 64) -> np.ndarray:
    """L2-normalised mean-pooled embeddings of ``lang``'s parallel sentences (cached in memory)."""
    from fedlib.backbone import embed_sentences

    code = source_code(lang, source)
    key = (backbone, source, code, n, max_length)
    if key not in EMBEDDINGS:
        model, tokenizer = _encoder(backbone)
        EMBEDDINGS[key] = embed_sentences(model, tokenizer, sentences_by_code(code, source, n),
                                          max_length=max_length, batch_size=32)
    return EMBEDDINGS[key]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment of two (items x features) matrices, in [0, 1]."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    kx, ky = x @ x.T, y @ y.T
    denom = np.linalg.norm(kx) * np.linalg.norm(ky)
    return float(np.sum(kx * ky) / denom) if denom > 0 else float("nan")


def model_matrix(languages: Iterable[str], kind: str = "model_cosine", *, backbone: str, source: str = "flores",
                 n: int = 64, max_length: int = 64, missing: str = "nan") -> pd.DataFrame:
    """Pairwise model-based distances between ``languages`` from parallel sentences.

    ``model_cosine``: ``1 - mean_i cos(e_a[i], e_b[i])``, in [0, 2]. ``model_cka``: ``1 - linear
    CKA(E_a, E_b)``, in [0, 1]. Languages without parallel sentences get NaN (listed in
    ``attrs["missing_languages"]``) or, with ``missing="raise"``, MissingParallelDataError.
    """
    check_kind(kind, MODEL_KINDS)
    langs = known_codes(languages)
    emb: dict[str, np.ndarray] = {}
    absent = []
    for lang in langs:
        try:
            emb[lang] = sentence_embeddings(lang, backbone=backbone, source=source, n=n, max_length=max_length)
        except MissingParallelDataError:
            if missing == "raise":
                raise
            absent.append(lang)
    dist = np.full((len(langs), len(langs)), np.nan)
    for i, a in enumerate(langs):
        for j, b in enumerate(langs[i + 1:], start=i + 1):
            if a in emb and b in emb:
                if kind == "model_cosine":
                    d = 1.0 - float(np.mean(np.sum(emb[a] * emb[b], axis=1)))
                    dist[i, j] = min(max(d, 0.0), 2.0)
                else:
                    dist[i, j] = min(max(1.0 - linear_cka(emb[a], emb[b]), 0.0), 1.0)
    matrix = symmetric_frame(dist, langs)
    matrix.attrs.update(distance=kind, source=f"{backbone} on {n} {source} parallel sentences",
                        missing_languages=absent, missing_pairs=[], imputed=False)
    return matrix
