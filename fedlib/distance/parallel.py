"""Translations of the same sentences in every language, read from the shipped test files.

FLORES-200 sentences come from the SIB-200 test files (aligned by ``index_id``), XNLI premises from
the XNLI test files (aligned row by row). Nigerian Pidgin has neither.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable

import numpy as np
import pandas as pd

from fedlib.config import data_dir
from fedlib.data.languages import get_language, known_codes
from fedlib.data.tasks import XNLI_LANGUAGES
from fedlib.distance.errors import DistanceError, MissingParallelDataError

PARALLEL_SOURCES = ("flores", "xnli")


def _read_sib_test(code: str) -> pd.DataFrame:
    from fedlib.data.readers import read_table

    path = data_dir() / "sib200" / code / "test.tsv.gz"
    return read_table(path, ("index_id", "category", "text"), header=True, quoting=csv.QUOTE_MINIMAL).frame


def _read_xnli_test(lang: str) -> pd.DataFrame:
    from fedlib.data.readers import read_table

    path = data_dir() / "xnli" / f"test-{lang}.tsv.gz"
    return read_table(path, ("premise", "hypothesis"), header=False, quoting=csv.QUOTE_NONE).frame


def source_code(lang: str, source: str) -> str:
    """Code of ``lang`` in the parallel source's files; MissingParallelDataError if absent."""
    if source == "flores":
        code = get_language(lang).flores
    elif source == "xnli":
        iso1 = get_language(lang).iso639_1
        code = iso1 if iso1 in XNLI_LANGUAGES else None
    else:
        raise DistanceError(f"unknown parallel source {source!r}; choose one of {', '.join(PARALLEL_SOURCES)}")
    if code is None:
        raise MissingParallelDataError(f"no {source} parallel sentences are shipped for language {lang!r}")
    return code


@functools.lru_cache(maxsize=8)
def sentences_by_code(code: str, source: str, n: int) -> tuple[str, ...]:
    """The ``n`` parallel sentences of one language (same items, same order, in every language).

    FLORES: the first ``n`` ``index_id`` of the English SIB-200 test file, looked up by id.
    XNLI: one premise from each of ``n`` evenly spaced premise groups of the test file (each
    premise has three hypothesis rows); the group boundaries must coincide with English's.
    """
    if source == "flores":
        ref = _read_sib_test("eng_Latn")["index_id"].tolist()
        if n > len(ref):
            raise DistanceError(f"only {len(ref)} FLORES sentences are shipped; asked for {n}")
        frame = _read_sib_test(code).set_index("index_id")
        absent = [i for i in ref[:n] if i not in frame.index]
        if absent:
            raise MissingParallelDataError(f"SIB-200 {code} lacks sentences {absent[:3]} of the English file")
        return tuple(frame.loc[ref[:n], "text"].astype(str))
    ref = _read_xnli_test("en")["premise"].to_numpy()
    frame = _read_xnli_test(code)
    premise = frame["premise"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ref[1:] != ref[:-1]])
    if len(premise) != len(ref) or not np.array_equal(starts, np.flatnonzero(np.r_[True, premise[1:] != premise[:-1]])):
        raise MissingParallelDataError(f"XNLI test file of {code!r} is not row-aligned with English")
    if n > len(starts):
        raise DistanceError(f"only {len(starts)} XNLI premises are shipped; asked for {n}")
    picks = starts[np.linspace(0, len(starts) - 1, n).round().astype(int)]
    return tuple(str(premise[i]).strip() for i in picks)


def parallel_sentences(languages: Iterable[str], *, source: str = "flores", n: int = 64) -> dict[str, list[str]]:
    """``n`` translations of the same sentences per language (MissingParallelDataError if none)."""
    return {lang: list(sentences_by_code(source_code(lang, source), source, n)) for lang in known_codes(languages)}
