"""``data_card``: one row per language describing what a task gives each client.

How finely the tokenizer cuts a language is measured per whitespace-separated word, except in
writing systems that do not put spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese,
Tibetan): there a whitespace "word" is a phrase or a whole sentence, so the ratio would only say how
long the sentences are. Those languages are measured per character instead (:func:`separates_words`).
:func:`tokenization_table` merges the cards of several tasks into one row per language, whichever
code each task writes it with (``en``, ``eng``, ``eng_Latn``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from fedlib.data.errors import UnknownLanguageError
from fedlib.data.languages import get_language, in_xlmr_pretraining, language_name, script_of
from fedlib.data.loader import load_report, load_task, resolve_source
from fedlib.data.tasks import few_shot_languages, get_task

# Writing systems without spaces between words, as named by `script_of`; then the same by a
# FLORES-200 script suffix and by ISO 639 code, for codes the language table does not hold.
UNSPACED_SCRIPTS = frozenset({"Han", "Japanese", "Thai", "Lao", "Khmer", "Myanmar", "Tibetan"})
_UNSPACED_FLORES_SCRIPTS = frozenset({"Hans", "Hant", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"})
_UNSPACED_CODES = frozenset({"zh", "zho", "cmn", "yue", "ja", "jpn", "th", "tha", "lo", "lao", "km", "khm",
                             "my", "mya", "bo", "bod"})


def separates_words(code: str) -> bool:
    """Whether the language ``code`` writes spaces between words, so that tokens per word means something.

    False for Chinese, Japanese, Thai, Lao, Khmer, Burmese and Tibetan. Vietnamese counts as spaced
    although its spaces separate syllables: its "words" are syllables.
    """
    script = script_of(code)
    if script != "unknown":
        return script not in UNSPACED_SCRIPTS
    if "_" in code:
        return code.split("_", 1)[1] not in _UNSPACED_FLORES_SCRIPTS
    return code not in _UNSPACED_CODES


def tokens_per_word(texts: list[str], tokenizer) -> float:
    """Sub-word tokens per whitespace-separated word (no special tokens).

    Meaningful only for languages that :func:`separates_words`; see :func:`tokens_per_character`.
    """
    words = sum(len(t.split()) for t in texts)
    if not words:
        return float("nan")
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(len(x) for x in ids) / words


def tokens_per_character(texts: list[str], tokenizer) -> float:
    """Sub-word tokens per character, whitespace not counted (no special tokens)."""
    characters = sum(len("".join(t.split())) for t in texts)
    if not characters:
        return float("nan")
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(len(x) for x in ids) / characters


def data_card(
    task: str,
    tokenizer=None,
    *,
    languages: str | Iterable[str] | None = None,
    source: str = "auto",
    sample: int = 500,
) -> pd.DataFrame:
    """Per-language table of ``task``.

    Columns: ``lang``, ``language``, ``script``, ``xlmr_pretraining`` (covered by CC-100,
    XLM-R's corpus), ``few_shot_train`` (train = few-shot samples only), row counts
    ``train``/``validation``/``test``, ``num_labels`` and ``labels`` occurring in the
    language, ``removed_rows`` (see :func:`fedlib.data.load_report`) and, with a
    ``tokenizer``, ``tokens_per_char`` and ``tokens_per_word`` over the first ``sample`` test
    rows (text and text_pair); ``tokens_per_word`` is NaN for languages that do not
    :func:`separate words <separates_words>` by spaces. ``df.attrs`` holds the task description
    and source.
    """
    spec = get_task(task)
    used = resolve_source(spec, source)
    dd = load_task(task, languages, source=source)  # "auto" reads unshipped languages from the hub
    report = load_report(task, languages, source=source)
    removed = (report[report["action"] == "removed"].groupby("lang")["count"].sum() if len(report)
               else pd.Series(dtype=int))
    few = set(few_shot_languages(task, used))
    names = spec.label_names
    frames = {split: dd[split].to_pandas() for split in dd}
    rows = []
    for lang in spec.resolve_languages(languages):
        counts = {split: int((f["lang"] == lang).sum()) for split, f in frames.items()}
        present = sorted({int(x) for f in frames.values() for x in f.loc[f["lang"] == lang, "label"]})
        row = {
            "lang": lang,
            "language": language_name(spec.file_code(lang)),
            "script": script_of(spec.file_code(lang)),
            "xlmr_pretraining": in_xlmr_pretraining(spec.file_code(lang)),
            "few_shot_train": lang in few,
            **counts,
            "num_labels": len(present),
            "labels": ", ".join(names[i] for i in present),
            "removed_rows": int(removed.get(lang, 0)),
        }
        if tokenizer is not None:
            part = frames["test"][frames["test"]["lang"] == lang]
            if part.empty:
                part = frames["train"][frames["train"]["lang"] == lang]
            part = part.head(sample)
            texts = [f"{a} {b}".strip() for a, b in zip(part["text"], part["text_pair"], strict=True)]
            row["tokens_per_char"] = round(tokens_per_character(texts, tokenizer), 3)
            spaced = separates_words(spec.file_code(lang))
            row["tokens_per_word"] = round(tokens_per_word(texts, tokenizer), 3) if spaced else float("nan")
        rows.append(row)
    card = pd.DataFrame(rows)
    card.attrs.update(task=spec.name, source=used, description=spec.description,
                      stand_in_for=spec.stand_in_for, licence=spec.source.licence)
    return card


def label_distribution(task: str, split: str = "train", *, languages: Iterable[str] | None = None,
                       source: str = "auto") -> pd.DataFrame:
    """Languages x label names: how many ``split`` rows of each label every language (client) holds."""
    dataset = load_task(task, list(languages) if languages is not None else None, source=source)[split]
    names = dataset.features["label"].names
    frame = pd.DataFrame({"lang": dataset["lang"], "label": [names[i] for i in dataset["label"]]})
    table = frame.groupby(["lang", "label"]).size().unstack(fill_value=0)
    return table.reindex(columns=[n for n in names if n in table.columns])


def tokenization_table(cards: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per distinct language of the data cards ``cards`` (task -> :func:`data_card` with a tokenizer).

    A language several tasks hold (``en`` in XNLI, ``eng`` in MasakhaNEWS) is one row, keyed by
    its ISO 639-3 code; its ratios are the mean over those tasks, each measured on that task's
    text. Columns: ``code`` (ISO 639-3, or the task's code where the language table lacks it),
    ``language``, ``script``, ``xlmr_pretraining``, ``separates_words``, ``tasks`` (comma-separated),
    ``tokens_per_word`` (NaN where words are not space-separated) and ``tokens_per_char``; sorted
    by ``tokens_per_word``, then ``tokens_per_char``.
    """
    rows = []
    for task, card in cards.items():
        if "tokens_per_char" not in card:
            raise ValueError(f"the data card of {task!r} has no token counts: build it with a tokenizer")
        for record in card.to_dict("records"):
            try:
                language = get_language(record["lang"])
                code, name = language.iso639_3, language.name
            except UnknownLanguageError:  # a folder task's own language
                code, name = record["lang"], record["language"]
            rows.append({"code": code, "language": name, "script": record["script"],
                         "xlmr_pretraining": bool(record["xlmr_pretraining"]),
                         "separates_words": separates_words(record["lang"]),
                         "task": task, "tokens_per_word": record["tokens_per_word"],
                         "tokens_per_char": record["tokens_per_char"]})
    columns = ["code", "language", "script", "xlmr_pretraining", "separates_words", "tasks",
               "tokens_per_word", "tokens_per_char"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    table = frame.groupby("code", sort=False).agg(
        language=("language", "first"), script=("script", "first"),
        xlmr_pretraining=("xlmr_pretraining", "first"), separates_words=("separates_words", "first"),
        tasks=("task", ", ".join), tokens_per_word=("tokens_per_word", "mean"),
        tokens_per_char=("tokens_per_char", "mean")).reset_index()
    return table[columns].sort_values(["tokens_per_word", "tokens_per_char"], na_position="last",
                                      ignore_index=True)
