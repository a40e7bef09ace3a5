"""The pre-training resource proxy: each language's share of CC-100, XLM-R's pre-training corpus."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from fedlib.data.languages import get_language, known_codes, language_name


def cc100_table(languages: Iterable[str]) -> pd.DataFrame:
    """Per language: CC-100 tokens (millions), size (GiB) and whether XLM-R's pre-training saw it.

    Languages outside CC-100 get 0 tokens, 0 GiB and ``in_pretraining=False``.
    """
    rows = []
    for lang in known_codes(languages):
        tokens, gib = get_language(lang).cc100 or (0, 0.0)
        rows.append((lang, language_name(lang), tokens, gib, get_language(lang).in_xlmr_pretraining))
    return pd.DataFrame(rows, columns=["language", "name", "cc100_tokens_m", "cc100_gib", "in_pretraining"])
