"""A folder is a task: your own languages, one sub-folder (= one client) each.

Layout::

    DIR/
      hau/train.csv        hau/dev.csv             hau/test.csv
      yor/train.tsv.gz     yor/validation.tsv.gz   yor/test.tsv.gz

Every language needs a ``train``, a ``dev`` (or ``validation``) and a ``test`` file, each TSV or CSV
(with a header row) or JSON Lines (one object per line), optionally gzipped: ``.tsv``, ``.csv``,
``.jsonl``, plus ``.gz``. The columns named by ``text_column`` (default ``text``), ``pair_column``
(the second text of sentence pairs; default none) and ``label_column`` (default ``label``) are read;
other columns are ignored. The languages are the sub-folders (those whose name starts with a dot are
not); files at the top of ``DIR`` are ignored.

Use it through :func:`fedlib.data.load_task` or by its name, wherever a task name goes::

    >>> from fedlib.data import folder_task_name, load_task
    >>> dd = load_task(folder="my_languages", label_column="category")   # a DatasetDict like any task
    >>> name = folder_task_name("my_languages", label_column="category")
    >>> ExperimentConfig(task=name, languages=("hau", "yor"))             # or: python -m fedlib run --data DIR

The name carries everything that shapes the data (path and values percent-encoded)::

    folder:<absolute path>?text=<column>&pair=<column or empty>&label=<column>&duplicates=<refuse|drop>

:func:`fedlib.data.get_task` builds the :class:`~fedlib.data.tasks.TaskSpec` from the name and caches
what it read on the name and the files' sizes and mtimes. The files' *content* enters a run's identity
through :func:`data_fingerprint`, which the resolved experiment config records.

What the reader decides, and reports:

* Labels: the union over every language and split, sorted. A language with no training row of some
  labels is kept, with a note in the load report and a logged warning. A label that no train file
  holds (seen only in dev or test) is an error: no model could learn it.
* Runs of whitespace collapse to one space; rows with an empty text (or pair) are removed and
  counted, as in the shipped readers.
* The same text (and pair) in two splits of one language: ``duplicates="refuse"`` (default) raises
  :class:`~fedlib.data.errors.DuplicateRowError` with the count; ``"drop"`` removes those rows from
  train (and dev rows also in test) and counts them in the load report. Test rows are never removed.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode

import pandas as pd

from fedlib.data import errors
from fedlib.data.readers import SPLITS, Note, _clean, _frame, decoded_text, drop_empty
from fedlib.data.tasks import SourceInfo, TaskSpec, register_task_builder

log = logging.getLogger(__name__)

PREFIX = "folder:"
DUPLICATES = ("refuse", "drop")
DELIMITERS = {".tsv": "\t", ".csv": ",", ".jsonl": None}  # None: JSON Lines
SPLIT_STEMS = {"train": ("train",), "validation": ("dev", "validation"), "test": ("test",)}
SPLIT_SHOWN = {"train": "train", "validation": "dev", "test": "test"}  # the split as the files name it
# Name key -> option: the query of a folder task's name, in this order.
_OPTIONS = {"text": "text_column", "pair": "pair_column", "label": "label_column", "duplicates": "duplicates"}
_ENCODING_HINT = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`) and run again"


@dataclasses.dataclass(frozen=True)
class FolderOptions:
    """What a folder task's name says: where its files are and how to read them."""

    path: str  # absolute
    text_column: str = "text"
    pair_column: str | None = None
    label_column: str = "label"
    duplicates: str = "refuse"

    @property
    def root(self) -> Path:
        return Path(self.path)

    @property
    def name(self) -> str:
        """The task name (see the module docstring): one spelling per folder and options."""
        query = {key: getattr(self, option) or "" for key, option in _OPTIONS.items()}
        return f"{PREFIX}{quote(self.path, safe='/')}?{urlencode(query, quote_via=quote)}"


def _options(path, text_column="text", pair_column=None, label_column="label", duplicates="refuse") -> FolderOptions:
    if duplicates not in DUPLICATES:
        raise errors.DataError(f"duplicates={duplicates!r}: choose one of {', '.join(DUPLICATES)}")
    for option, value in (("text_column", text_column), ("label_column", label_column)):
        if not isinstance(value, str) or not value:
            raise errors.DataError(f"{option} must name a column (got {value!r})")
    if not str(path):
        raise errors.DataError("a folder task needs a folder: folder_task_name(path, ...)")
    return FolderOptions(str(Path(path).expanduser().resolve()), text_column, pair_column or None, label_column,
                         duplicates)


def folder_task_name(path, *, text_column: str = "text", pair_column: str | None = None,
                     label_column: str = "label", duplicates: str = "refuse") -> str:
    """The name of the task held by the folder ``path`` (relative paths are resolved from here)."""
    return _options(path, text_column, pair_column, label_column, duplicates).name


def is_folder_task(task) -> bool:
    return isinstance(task, str) and task.startswith(PREFIX)


def folder_options(name: str) -> FolderOptions:
    """The options ``name`` carries; an option it leaves out has its default."""
    if not is_folder_task(name):
        raise errors.UnknownTaskError(f"{name!r} is not a folder task (its name starts with {PREFIX!r})")
    path, _, query = name[len(PREFIX):].partition("?")
    values = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(values) - set(_OPTIONS))
    if unknown:
        raise errors.UnknownTaskError(f"folder task {name!r}: unknown option(s) {unknown}; the options are "
                                      f"{', '.join(_OPTIONS)}")
    return _options(unquote(path), **{_OPTIONS[key]: value[-1] for key, value in values.items()})


def canonical_task_name(task: str) -> str:
    """``task`` spelled as its :class:`TaskSpec` names it: a folder task's absolute, complete name."""
    return folder_options(task).name if is_folder_task(task) else task


def task_file_name(task: str) -> str:
    """``task`` as artifact file and folder names show it: a shipped task's name, or for a folder task
    ``folder-<folder's name>-<8 hex digits of the task name's sha256>`` (no slash, no query)."""
    if not is_folder_task(task):
        return task
    options = folder_options(task)
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", options.root.name) or "root"
    return f"folder-{readable}-{hashlib.sha256(options.name.encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------------------
def _split_file(lang_dir: Path, split: str) -> Path:
    stems = SPLIT_STEMS[split]
    accepted = {f"{stem}{ext}{gz}" for stem in stems for ext in DELIMITERS for gz in ("", ".gz")}
    found = sorted(p for p in lang_dir.iterdir() if p.name in accepted and p.is_file())
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.name for p in found)
        raise errors.DataError(f"{lang_dir}: {len(found)} {SPLIT_SHOWN[split]} files ({names}); keep one")
    present = ", ".join(sorted(p.name for p in lang_dir.iterdir() if not p.name.startswith("."))) or "nothing"
    raise errors.DataFileMissingError(
        f"{lang_dir}: no {SPLIT_SHOWN[split]} file (found: {present}); every language needs train, dev (or "
        f"validation) and test files, named like {stems[0]}.tsv, {stems[0]}.csv or {stems[0]}.jsonl, optionally .gz"
    )


def folder_files(options: FolderOptions) -> dict[str, dict[str, Path]]:
    """``{language: {split: file}}`` of the folder, languages sorted by name."""
    root = options.root
    if not root.is_dir():
        state = "is not a folder" if root.exists() else "does not exist"
        raise errors.DataFileMissingError(f"folder task: {root} {state}; point it at the folder that holds one "
                                          "sub-folder per language")
    languages = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not languages:
        raise errors.DataFileMissingError(
            f"folder task: {root} has no language sub-folders; put each language's train, dev and test files "
            f"in a sub-folder named after it (e.g. {root / 'hau' / 'train.csv'})"
        )
    return {lang.name: {split: _split_file(lang, split) for split in SPLITS} for lang in languages}


# --------------------------------------------------------------------------------------
# Reading one file
# --------------------------------------------------------------------------------------
def _delimited_records(path: Path, text: str, delimiter: str) -> tuple[list[str], list[dict], list[int]]:
    # strict: a stray quote is an error, not a field that silently swallows the rows after it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows, lines, previous_end = [], [], 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not record:
                continue
            if header is None:
                header = [name.strip() for name in record]
                continue
            if len(record) != len(header):
                raise errors.MalformedRowError(
                    f"{path}, line {start}: {len(record)} fields, but the header has {len(header)} "
                    f"({', '.join(header)}); quote a field that holds the delimiter, or fix the row"
                )
            rows.append(dict(zip(header, record, strict=True)))
            lines.append(start)
    except csv.Error as exc:
        raise errors.MalformedRowError(
            f"{path}, line {reader.line_num}: unparsable ({exc}); a field that starts with a quote must end with "
            "one (double a quote inside it), or fix the row") from None
    return header or [], rows, lines


def _json_records(path: Path, text: str) -> tuple[list[str], list[dict], list[int]]:
    header: list[str] = []
    rows, lines = [], []
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise errors.MalformedRowError(f"{path}, line {number}: not valid JSON ({exc.msg}); every line of a "
                                           ".jsonl file holds one JSON object") from None
        if not isinstance(row, dict):
            raise errors.MalformedRowError(f"{path}, line {number}: a JSON {type(row).__name__}, not an object; every "
                                           "line of a .jsonl file holds one JSON object")
        header = header or list(row)
        rows.append(row)
        lines.append(number)
    return header, rows, lines


def _as_text(value, path: Path, line: int, column: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        raise errors.MalformedRowError(f"{path}, line {line}: column {column!r} holds a JSON {type(value).__name__}; "
                                       "expected a string or a number")
    return str(value)


def _column(path: Path, header, rows, lines, column: str, option: str) -> list[str]:
    if column not in header:
        raise errors.MalformedRowError(
            f"{path}: no column {column!r} (columns found: {', '.join(header)}); name the right one with "
            f"{option}= (command line --{option.replace('_', '-')})"
        )
    values = []
    for row, line in zip(rows, lines, strict=True):
        if column not in row:  # JSON Lines: each object has its own keys
            raise errors.MalformedRowError(f"{path}, line {line}: no {column!r} (this row has: {', '.join(row)}); give "
                                           "every row the same keys")
        values.append(_as_text(row[column], path, line, column))
    return values


def read_split_file(path: Path, raw: bytes, options: FolderOptions) -> tuple[list[str], list[str] | None, list[str]]:
    """(texts, pairs or None, labels) of one file whose bytes are ``raw``; every problem names the file."""
    text = decoded_text(path, raw, _ENCODING_HINT).removeprefix("\ufeff")  # spreadsheets write a BOM
    extension = Path(path.name.removesuffix(".gz")).suffix
    delimiter = DELIMITERS[extension]
    header, rows, lines = (_json_records(path, text) if delimiter is None
                           else _delimited_records(path, text, delimiter))
    if not rows:
        what = "only a header" if header else "nothing"
        raise errors.EmptyPartitionError(f"{path}: the file has no rows ({what}); every language needs at least "
                                         "one row in train, dev and test")
    texts = _column(path, header, rows, lines, options.text_column, "text_column")
    pairs = (None if options.pair_column is None
             else _column(path, header, rows, lines, options.pair_column, "pair_column"))
    labels = [label.strip() for label in _column(path, header, rows, lines, options.label_column, "label_column")]
    unlabelled = [line for line, label in zip(lines, labels, strict=True) if not label]
    if unlabelled:
        raise errors.LabelError(f"{path}, line {unlabelled[0]}: empty label in column {options.label_column!r} "
                                f"({len(unlabelled)} row(s) without one); give every row a label or remove it")
    return texts, pairs, labels


# --------------------------------------------------------------------------------------
# Reading the folder
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FolderData:
    """Everything read from a folder: its spec, each language's rows and notes, each file's sha256."""

    options: FolderOptions
    spec: TaskSpec
    frames: dict[str, pd.DataFrame]  # language -> rows in the common schema (label as a string)
    notes: dict[str, tuple[Note, ...]]
    checksums: dict[str, str]  # "<language>/<file name>" -> sha256

    @property
    def fingerprint(self) -> str:
        """sha256 of the folder's listing in ``sha256sum`` format (``<sha256>  <lang>/<file>``, sorted by path)."""
        listing = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(self.checksums.items()))
        return hashlib.sha256(listing.encode()).hexdigest()


def _require_rows(frame: pd.DataFrame, files: dict[str, Path], why: str) -> None:
    for split, path in files.items():
        if not (frame["split"] == split).any():
            raise errors.EmptyPartitionError(f"{path}: no row left ({why}); every language needs rows in train, dev "
                                             "and test")


def _cross_split_duplicates(frame: pd.DataFrame, options: FolderOptions, lang: str, files: dict[str, Path],
                            notes: list[Note]) -> pd.DataFrame:
    """Refuse, or drop from train and dev, the rows whose text (and pair) also occurs in a later split."""
    key = frame["text"] + "\t" + frame["text_pair"]
    split = frame["split"]
    counts, dropped = {}, pd.Series(False, index=frame.index)
    for earlier, later in (("train", ("validation", "test")), ("validation", ("test",))):
        hit = (split == earlier) & key.isin(set(key[split.isin(later)]))
        counts[earlier], dropped = int(hit.sum()), dropped | hit
    total = sum(counts.values())
    if not total:
        return frame
    if options.duplicates == "refuse":
        what = "text and pair" if options.pair_column else "text"
        raise errors.DuplicateRowError(
            f"{files['train'].parent}: {total} row(s) of {lang!r} share their {what} with a row of another split "
            f"({counts['train']} train row(s) also in dev or test, {counts['validation']} dev row(s) also in test; "
            f"files {', '.join(p.name for p in files.values())}); a row in two splits lets evaluation see training "
            "data. Remove them, or pass duplicates='drop' (command line --duplicates drop) to drop them from train "
            "and dev"
        )
    for earlier, reason in (("train", "text also in dev or test"), ("validation", "text also in test")):
        if counts[earlier]:
            notes.append(Note(options.name, lang, earlier, f"duplicate across splits ({reason})", "removed",
                              counts[earlier]))
    return frame[~dropped].reset_index(drop=True)


def _label_set(frames: dict[str, pd.DataFrame], files: dict[str, dict[str, Path]]) -> tuple[str, ...]:
    """The sorted union of labels; a label no train file holds is an error naming where it occurs."""
    labels = sorted(set().union(*(set(f["label"]) for f in frames.values())))
    trained = set().union(*(set(f.loc[f["split"] == "train", "label"]) for f in frames.values()))
    problems = []
    for label in (label for label in labels if label not in trained):
        places = [(lang, split, int(n)) for lang, f in frames.items()
                  for split, n in f.loc[f["label"] == label, "split"].value_counts(sort=False).items()]
        splits = sorted({SPLIT_SHOWN[split] for _, split, _ in places})
        problems.append(f"{label!r} only in {' and '.join(splits)}: "
                        + ", ".join(f"{files[lang][split]} ({n} row(s))" for lang, split, n in places))
    if problems:
        raise errors.LabelError(f"label(s) in no train file of any language, which no model can learn: "
                                f"{'; '.join(problems)}. Fix the labels, add training rows with them, or remove "
                                "those rows")
    return tuple(labels)


def _missing_labels(options: FolderOptions, lang: str, frame: pd.DataFrame, labels: tuple[str, ...]) -> list[Note]:
    """A note (and a warning) when ``lang`` trains on only some of the labels."""
    present = set(frame.loc[frame["split"] == "train", "label"])
    missing = [label for label in labels if label not in present]
    if not missing:
        return []
    log.warning("folder task %s: language %r has no training row of label(s) %s; it is kept (a federated model "
                "learns them from the other languages)", options.path, lang, ", ".join(missing))
    return [Note(options.name, lang, "train", "label(s) with no training row in this language", "kept",
                 len(missing), ", ".join(missing))]


def _spec(options: FolderOptions, frames: dict[str, pd.DataFrame], labels: tuple[str, ...]) -> TaskSpec:
    columns = f"text column {options.text_column!r}"
    if options.pair_column:
        columns += f", pair column {options.pair_column!r}"
    present = {lang: set(f["label"]) for lang, f in frames.items()}
    return TaskSpec(
        name=options.name,
        languages=tuple(frames),
        label_names=labels,
        has_pair=options.pair_column is not None,
        description=(f"Folder task: {len(frames)} languages from {options.path} ({columns}, label column "
                     f"{options.label_column!r}; {len(labels)} labels, the sorted union over languages; rows in two "
                     f"splits: {options.duplicates})."),
        source=SourceInfo(name=f"the files in {options.path}", url=options.root.as_uri(),
                          licence="the folder's own (not known to fedlib)", offline_dir=None),
        language_labels=tuple((lang, tuple(label for label in labels if label in present[lang]))
                              for lang in frames if present[lang] != set(labels)),
    )


@functools.lru_cache(maxsize=16)
def _read_folder(options: FolderOptions, signature: tuple) -> FolderData:
    files: dict[str, dict[str, Path]] = {}
    for lang, split, path, *_ in signature:
        files.setdefault(lang, {})[split] = Path(path)
    frames, notes, checksums = {}, {}, {}
    for lang, by_split in files.items():
        parts, lang_notes = [], []
        for split, path in by_split.items():
            raw = path.read_bytes()
            checksums[path.relative_to(options.root).as_posix()] = hashlib.sha256(raw).hexdigest()
            texts, pairs, labels = read_split_file(path, raw, options)
            pairs = None if pairs is None else _clean(pd.Series(pairs, dtype=str))
            parts.append(_frame(_clean(pd.Series(texts, dtype=str)), pairs, labels, lang, split))
        frame = drop_empty(pd.concat(parts, ignore_index=True), options.name, lang, options.pair_column is not None,
                           lang_notes)
        _require_rows(frame, by_split, "every row has an empty text")
        frame = _cross_split_duplicates(frame, options, lang, by_split, lang_notes)
        _require_rows(frame, by_split, "every row also occurs in a later split and was dropped")
        frames[lang], notes[lang] = frame, lang_notes
    labels = _label_set(frames, files)
    for lang, frame in frames.items():
        notes[lang] += _missing_labels(options, lang, frame, labels)
    return FolderData(options, _spec(options, frames, labels), frames,
                      {lang: tuple(n) for lang, n in notes.items()}, checksums)


def folder_data(task: str) -> FolderData:
    """What the folder task ``task`` reads, parsed once per process until a file's size or mtime changes."""
    options = folder_options(task)
    signature = []
    for lang, by_split in folder_files(options).items():
        for split, path in by_split.items():
            st = path.stat()
            signature.append((lang, split, str(path), st.st_size, st.st_mtime_ns))
    return _read_folder(options, tuple(signature))


register_task_builder(PREFIX, lambda name: folder_data(name).spec)


# --------------------------------------------------------------------------------------
# What the rest of fedlib asks of a folder task
# --------------------------------------------------------------------------------------
def read_language(spec: TaskSpec, lang: str) -> tuple[pd.DataFrame, tuple[Note, ...]]:
    """One language of a folder task: (frame in the common schema, notes), like the shipped readers."""
    spec.check_language(lang)
    data = folder_data(spec.name)
    return data.frames[lang].copy(), data.notes[lang]


def data_fingerprint(task: str) -> str | None:
    """The folder's :attr:`FolderData.fingerprint` for a folder task; ``None`` for a shipped task."""
    return folder_data(task).fingerprint if is_folder_task(task) else None


def folder_record(task: str) -> dict:
    """What an artifact records of a folder task: path, column mapping, rule, labels, files' sha256."""
    data = folder_data(task)
    options = data.options
    return {"path": options.path, "duplicates": options.duplicates, "labels": list(data.spec.label_names),
            "columns": {"text": options.text_column, "pair": options.pair_column, "label": options.label_column},
            "languages": list(data.spec.languages), "fingerprint": data.fingerprint, "files": dict(data.checksums)}
