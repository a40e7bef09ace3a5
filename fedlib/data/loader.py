"""``load_task``: one :class:`datasets.DatasetDict` per task, every task in one schema.

Columns of every split:

============  ==========================================================================
``text``      str -- the input (premise for XNLI; headline + article start for news)
``text_pair`` str -- XNLI hypothesis; ``""`` for single-text tasks
``label``     :class:`datasets.ClassLabel` with the task's ``label_names`` (same ids in all languages)
``lang``      str -- language code as in :attr:`TaskSpec.languages`
``split``     ``"train"`` / ``"validation"`` / ``"test"``
============  ==========================================================================

Rows are ordered by language (in the order requested, else the task's order), then by
file order, so the same call always gives the same datasets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import datasets
import pandas as pd

from fedlib.data import hub, readers
from fedlib.data.errors import DataError, SourceUnavailableError
from fedlib.data.folder import folder_task_name, is_folder_task
from fedlib.data.folder import read_language as read_folder_language
from fedlib.data.readers import COLUMNS, SPLITS, Note
from fedlib.data.tasks import TaskSpec, get_task

log = logging.getLogger(__name__)

SOURCES = ("auto", "offline", "hub")


def features_for(task: str | TaskSpec) -> datasets.Features:
    """The :class:`datasets.Features` of every split of ``task``."""
    spec = get_task(task) if isinstance(task, str) else task
    return datasets.Features(
        {
            "text": datasets.Value("string"),
            "text_pair": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(spec.label_names)),
            "lang": datasets.Value("string"),
            "split": datasets.Value("string"),
        }
    )


def resolve_source(spec: TaskSpec, source: str) -> str:
    """``"offline"`` or ``"hub"`` for ``source`` in ``("auto", "offline", "hub")``; ``"folder"`` for a folder task.

    ``auto`` is offline when the task's folder exists under ``data/``, else the Hub.
    """
    if source not in SOURCES:
        raise DataError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if is_folder_task(spec.name):  # a folder of your own is read from there, whatever the source says
        if source == "hub":
            raise SourceUnavailableError(f"a folder task is read from its folder, not the hub: {spec.name!r}")
        return "folder"
    if source == "auto":
        return "offline" if readers.has_offline_copy(spec) else "hub"
    if source == "offline" and spec.source.offline_dir is None:
        readers.files_needed(spec, spec.languages[0])  # raises the explanatory SourceUnavailableError
    if source == "hub" and spec.source.hub_id is None:
        raise SourceUnavailableError(f"task {spec.name!r} is only available offline; use source='offline'")
    return source


def language_sources(spec: TaskSpec, langs: Iterable[str], source: str = "auto") -> dict[str, str]:
    """Where each of ``langs`` is read from, ``"offline"`` or ``"hub"``.

    ``auto`` reads the shipped languages from the task's folder under ``data/`` (when it exists) and
    every other language its hub source offers (e.g. any of SIB-200's 205) from the Hub.
    """
    used = resolve_source(spec, source)
    unshipped = [lang for lang in langs if not spec.is_shipped(lang)]
    if used == "offline" and unshipped:
        if source != "auto":
            raise spec.unshipped_error(unshipped, "source='offline' reads only the shipped files")
        return {lang: "hub" if lang in unshipped else "offline" for lang in langs}
    return dict.fromkeys(langs, used)


def _frames(spec: TaskSpec, sources: dict[str, str]) -> tuple[pd.DataFrame, list[Note]]:
    frames, notes = [], []
    for lang, source in sources.items():
        read = {"offline": readers.read_language, "hub": hub.read_language, "folder": read_folder_language}[source]
        frame, lang_notes = read(spec, lang)
        frames.append(frame)
        notes.extend(lang_notes)
    return pd.concat(frames, ignore_index=True), notes


def _describe(spec: TaskSpec, sources: dict[str, str], split: str, notes: list[Note]) -> str:
    used = sorted(set(sources.values()))
    source = repr(used[0]) if len(used) == 1 else "; ".join(
        f"{s!r} for {', '.join(lang for lang, s_ in sources.items() if s_ == s)}" for s in used)
    lines = [f"fedlib task {spec.name!r}, split {split!r}, source {source}, languages {', '.join(sources)}."]
    if spec.stand_in_for:
        lines.append(f"STAND-IN for {spec.stand_in_for!r}: {spec.description}")
    else:
        lines.append(spec.description)
    lines.append(f"Data: {spec.source.name}; licence: {spec.source.licence}.")
    relevant = [n for n in notes if n.split == split]
    if relevant:
        lines.append("Load report: " + "; ".join(
            f"{n.lang}: {n.action} {n.count} ({n.reason}{', ' + n.detail if n.detail else ''})" for n in relevant
        ) + ".")
    return "\n".join(lines)


def load_task(
    task: str | None = None, languages: str | Iterable[str] | None = None, *, source: str = "auto",
    folder=None, **folder_options,
) -> datasets.DatasetDict:
    """All requested languages of ``task`` as a DatasetDict with keys ``train``, ``validation``, ``test``.

    ``source``: ``"offline"`` (the shipped files in ``data/``, checksum-verified),
    ``"hub"`` (``datasets.load_dataset`` from the Hugging Face Hub, network needed) or
    ``"auto"`` (the shipped languages offline when the task's folder exists, every other language
    from the Hub: see :func:`language_sources`). Each split's
    ``info.description`` names the task, source, licence and every removed row count
    (also available as a table from :func:`load_report`).

    ``folder=DIR`` loads your own languages instead of a named task: one sub-folder per language
    (see :mod:`fedlib.data.folder`); ``folder_options`` are those of
    :func:`~fedlib.data.folder.folder_task_name` (``text_column``, ``pair_column``, ``label_column``,
    ``duplicates``).
    """
    if folder is not None and task is not None:
        raise DataError(f"load_task: give a task name ({task!r}) or folder=, not both")
    if folder is None and folder_options:
        raise DataError(f"load_task: {', '.join(sorted(folder_options))} apply to folder=DIR only")
    spec = get_task(task if folder is None else folder_task_name(folder, **folder_options))
    sources = language_sources(spec, spec.resolve_languages(languages), source)
    frame, notes = _frames(spec, sources)
    features = features_for(spec)
    label_id = {name: i for i, name in enumerate(spec.label_names)}
    out = {}
    for split in SPLITS:
        part = frame.loc[frame["split"] == split, list(COLUMNS)].reset_index(drop=True)
        part["label"] = part["label"].map(label_id).astype("int64")  # readers checked the label set
        info = datasets.DatasetInfo(description=_describe(spec, sources, split, notes), features=features)
        out[split] = datasets.Dataset.from_pandas(part, features=features, info=info, split=split, preserve_index=False)
    return datasets.DatasetDict(out)


def load_report(
    task: str, languages: str | Iterable[str] | None = None, *, source: str = "offline"
) -> pd.DataFrame:
    """Rows removed (or kept despite a problem) while loading ``task``: one line per language/split/reason.

    Columns ``task, lang, split, reason, action, count, detail``. Empty when nothing was removed.
    """
    spec = get_task(task)
    _, notes = _frames(spec, language_sources(spec, spec.resolve_languages(languages), source))
    columns = ["task", "lang", "split", "reason", "action", "count", "detail"]
    return pd.DataFrame([[getattr(n, c) for c in columns] for n in notes], columns=columns)


def offline_available(task: str) -> bool:
    """Whether ``task`` has shipped files under :func:`fedlib.config.data_dir`."""
    return readers.has_offline_copy(get_task(task))

