"""``data_card``: one row per language describing what a task gives each client."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from fedlib.data.languages import in_xlmr_pretraining, language_name, script_of
from fedlib.data.loader import load_report, load_task, resolve_source
from fedlib.data.tasks import few_shot_languages, get_task


def tokens_per_word(texts: list[str], tokenizer) -> float:
    """Sub-word tokens per whitespace-separated word (no special tokens).

    Whitespace words are not words in Chinese or Thai, so the ratio is inflated there.
    """
    words = sum(len(t.split()) for t in texts)
    if not words:
        return float("nan")
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(len(x) for x in ids) / words


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
    ``tokenizer``, ``tokens_per_word`` over the first ``sample`` test rows (text and
    text_pair). ``df.attrs`` holds the task description and source.
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
            row["tokens_per_word"] = round(tokens_per_word(texts, tokenizer), 3) if texts else float("nan")
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
