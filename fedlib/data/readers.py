"""Offline readers of the shipped files in ``data/`` (see ``data/README.md``).

Each reader turns one language of one task into a :class:`pandas.DataFrame` in the common
schema (``text``, ``text_pair``, ``label`` as a string, ``lang``, ``split``) plus a tuple of
:class:`Note` records: every row removed (duplicate, empty text, dev/test overlap) is
counted there and logged, never dropped silently.

Files are checked against ``data/SHA256SUMS`` before they are parsed. Every table is
validated twice: a :mod:`csv` pass counts the fields of every record (so a short or long
row is reported with its line number), then :func:`pandas.read_csv` parses it exactly as
``data/README.md`` prescribes (XNLI/XGLUE: ``quoting=csv.QUOTE_NONE``; MasakhaNEWS and
SIB-200: default quoting, as the article text is quoted and spans lines).

Parsed languages are cached per process, keyed on the files' paths, sizes and mtimes.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import io
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fedlib.config import data_dir
from fedlib.data.checksums import verify_file
from fedlib.data.errors import (
    RESTORE_HINT,
    DataError,
    DataFileMissingError,
    LabelError,
    MalformedRowError,
    SourceUnavailableError,
)
from fedlib.data.splits import xnli_split_rows
from fedlib.data.tasks import MAX_BODY_CHARS, TaskSpec

log = logging.getLogger(__name__)

COLUMNS = ("text", "text_pair", "label", "lang", "split")
SPLITS = ("train", "validation", "test")

if csv.field_size_limit() < 1 << 27:  # news articles can exceed csv's 128 KiB default
    csv.field_size_limit(min(sys.maxsize, 1 << 27))

FEW_SHOT_KS = (5, 10, 20, 50)
FEW_SHOT_PET_LANGUAGES = ("amh", "eng", "fra", "hau", "swa")  # the PET branch has no tir
MASAKHANEWS_COLUMNS = ("category", "headline", "text", "url")


@dataclasses.dataclass(frozen=True)
class Note:
    """One line of a load report: ``count`` rows of ``lang``/``split`` were removed (or kept) and why."""

    task: str
    lang: str
    split: str
    reason: str
    action: str  # "removed" or "kept"
    count: int
    detail: str = ""


# --------------------------------------------------------------------------------------
# Generic validated table reader
# --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Table:
    """A parsed file: ``frame`` (all columns as str) and the 1-based first line of each row."""

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray


def decoded_text(path: Path, raw: bytes, hint: str) -> str:
    """``raw`` (the bytes of ``path``) as text: gunzipped when the name ends in ``.gz``, then UTF-8.

    A bad gzip stream or a byte that is not UTF-8 raises :class:`MalformedRowError` naming the
    file (and the line), followed by ``hint`` (what to do).
    """
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise MalformedRowError(f"{path}: not a valid gzip file ({exc}); {hint}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise MalformedRowError(f"{path}, line {line}: not valid UTF-8 ({exc.reason}); {hint}") from None


def read_table(path: Path, columns: tuple[str, ...], *, header: bool, quoting: int) -> Table:
    """Verify ``path`` against SHA256SUMS, validate every record's field count, parse with pandas."""
    path = Path(path)
    verify_file(path)
    text = decoded_text(path, path.read_bytes(), RESTORE_HINT)

    n_fields = len(columns)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=quoting)
    lines: list[int] = []
    previous_end = 0
    seen_header = not header
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not record:
                continue  # blank line; pandas skips these too
            if not seen_header:
                seen_header = True
                if tuple(record) != columns:
                    want, got = "\t".join(columns), "\t".join(record)
                    raise MalformedRowError(
                        f"{path}, line {start}: expected the header {want!r}, found {got!r}; {RESTORE_HINT}"
                    )
                continue
            if len(record) != n_fields:
                raise MalformedRowError(
                    f"{path}, line {start}: expected {n_fields} tab-separated fields "
                    f"({', '.join(columns)}), found {len(record)}; fix the row or {RESTORE_HINT}"
                )
            lines.append(start)
    except csv.Error as exc:
        raise MalformedRowError(f"{path}, line {reader.line_num}: unparsable ({exc}); {RESTORE_HINT}") from None
    if not seen_header:
        raise MalformedRowError(f"{path}: the file is empty (expected a header row); {RESTORE_HINT}")

    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            header=0 if header else None,
            names=None if header else list(columns),
            quoting=quoting,
            keep_default_na=False,
            dtype=str,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise MalformedRowError(f"{path}: unparsable ({exc}); {RESTORE_HINT}") from None
    if len(frame) != len(lines):
        raise MalformedRowError(
            f"{path}: pandas read {len(frame)} rows but the file holds {len(lines)} records "
            f"(stray quote or line break?); {RESTORE_HINT}"
        )
    frame.columns = list(columns)
    return Table(path=path, frame=frame, lines=np.asarray(lines, dtype=np.int64))


def check_labels(table: Table, column: str, allowed: tuple[str, ...], task: str) -> None:
    """Raise :class:`LabelError` naming the file, line and label of the first row outside ``allowed``."""
    bad = ~table.frame[column].isin(allowed)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabelError(
            f"{table.path}, line {table.lines[i]}: label {table.frame[column].iloc[i]!r} is not in "
            f"the {task!r} label set ({', '.join(allowed)}); {int(bad.sum())} row(s) affected. "
            f"Fix the file or {RESTORE_HINT}"
        )


def _clean(values: pd.Series) -> pd.Series:
    """Collapse runs of whitespace (newlines, tabs) to single spaces and strip."""
    return values.str.split().str.join(" ")


def news_text(headline: pd.Series, body: pd.Series, max_chars: int = MAX_BODY_CHARS) -> pd.Series:
    """``headline + " " + first max_chars characters of the body`` (whitespace collapsed)."""
    # Cut long articles before collapsing whitespace (cheap); 4x leaves room for collapsed runs.
    body = body.str.lstrip().str.slice(0, 4 * max_chars)
    return (_clean(headline) + " " + _clean(body).str.slice(0, max_chars)).str.strip()


def _frame(text, text_pair, label, lang: str, split: str) -> pd.DataFrame:
    text = pd.Series(text, dtype=str).reset_index(drop=True)
    if text_pair is None:
        pair = pd.Series("", index=text.index, dtype=str)
    else:
        pair = pd.Series(text_pair, dtype=str).reset_index(drop=True)
    label = pd.Series(label, dtype=str).reset_index(drop=True)
    return pd.DataFrame({"text": text, "text_pair": pair, "label": label, "lang": lang, "split": split})


def drop_empty(frame: pd.DataFrame, task: str, lang: str, has_pair: bool, notes: list[Note]) -> pd.DataFrame:
    """Remove rows whose text (or text_pair, for pair tasks) is empty; record a Note per split."""
    empty = frame["text"].str.strip() == ""
    if has_pair:
        empty |= frame["text_pair"].str.strip() == ""
    for split in SPLITS:
        n = int((empty & (frame["split"] == split)).sum())
        if n:
            notes.append(Note(task, lang, split, "empty text", "removed", n))
    return frame[~empty].reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Per-task files
# --------------------------------------------------------------------------------------
def _xnli_files(lang: str) -> dict[str, Path]:
    root = data_dir() / "xnli"
    return {"dev": root / f"dev-{lang}.tsv.gz", "test": root / f"test-{lang}.tsv.gz",
            "labels": root / "test-labels.tsv"}


def _masakhanews_files(spec: TaskSpec, lang: str) -> dict[str, Path]:
    root = data_dir() / "masakhanews"
    files = {"dev": root / lang / "dev.tsv.gz", "test": root / lang / "test.tsv.gz"}
    if lang in spec.few_shot_languages:
        for k in FEW_SHOT_KS:
            files[f"few_shot_{k}"] = root / "few_shot" / f"{k}_samples" / lang / "train.tsv.gz"
        if lang in FEW_SHOT_PET_LANGUAGES:
            for k in FEW_SHOT_KS:
                files[f"few_shot_pet_{k}"] = root / "few_shot_pet" / lang / f"{k}sample" / "train.tsv.gz"
    else:
        files["train"] = root / lang / "train.tsv.gz"
    return files


def _sib200_files(spec: TaskSpec, lang: str) -> dict[str, Path]:
    root = data_dir() / "sib200" / spec.file_code(lang)
    return {"train": root / "train.tsv.gz", "dev": root / "dev.tsv.gz", "test": root / "test.tsv.gz"}


def _xglue_files(lang: str) -> dict[str, Path]:
    return {"test": data_dir() / "xglue_nc" / lang / "dev.txt.gz"}


def files_needed(spec: TaskSpec, lang: str) -> dict[str, Path]:
    """The shipped files that the offline reader of ``spec``/``lang`` opens."""
    spec.check_language(lang)
    if spec.name == "xnli":
        return _xnli_files(lang)
    if spec.name == "masakhanews":
        return _masakhanews_files(spec, lang)
    if spec.name in ("sib200", "nc_standin"):
        return _sib200_files(spec, lang)
    if spec.name == "xglue_nc_de_sample":
        return _xglue_files(lang)
    raise SourceUnavailableError(
        f"task {spec.name!r} has no offline copy in {data_dir()}; "
        + (f"use task {'nc_standin'!r} offline (SIB-200 stand-in for XGLUE NC) or source='hub' when online"
           if spec.name == "nc" else "use source='hub'")
    )


def has_offline_copy(spec: TaskSpec) -> bool:
    """Whether the task's folder is present under :func:`~fedlib.config.data_dir`."""
    return spec.source.offline_dir is not None and (data_dir() / spec.source.offline_dir).is_dir()


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------
def read_language(spec: TaskSpec, lang: str) -> tuple[pd.DataFrame, tuple[Note, ...]]:
    """One language of ``spec`` from the shipped files: (frame in the common schema, notes)."""
    files = files_needed(spec, lang)
    signature = []
    for path in files.values():
        try:
            st = path.stat()
        except FileNotFoundError:
            raise DataFileMissingError(
                f"data file not found: {path} (task {spec.name!r}, language {lang!r}); {RESTORE_HINT}, "
                f"or use source='hub' when online"
            ) from None
        signature.append((str(path), st.st_size, st.st_mtime_ns))
    sums = data_dir() / "SHA256SUMS"  # a re-signed folder is re-verified
    if sums.is_file():
        st = sums.stat()
        signature.append((str(sums), st.st_size, st.st_mtime_ns))
    frame, notes = _read_language_cached(spec.name, lang, str(data_dir()), tuple(signature))
    return frame.copy(), notes


@functools.lru_cache(maxsize=256)
def _read_language_cached(task: str, lang: str, root: str, signature: tuple) -> tuple[pd.DataFrame, tuple[Note, ...]]:
    from fedlib.data.tasks import get_task

    spec = get_task(task)
    notes: list[Note] = []
    if task == "xnli":
        frame = _read_xnli(spec, lang)
    elif task == "masakhanews":
        frame = _read_masakhanews(spec, lang, notes)
    elif task in ("sib200", "nc_standin"):
        frame = _read_sib200(spec, lang)
    elif task == "xglue_nc_de_sample":
        frame = _read_xglue_de(spec, lang)
    else:  # pragma: no cover - files_needed() already refused
        raise DataError(f"no offline reader for task {task!r}")
    frame = drop_empty(frame, task, lang, spec.has_pair, notes)
    for note in notes:
        if note.action == "removed":
            log.info("%s/%s %s: removed %d row(s): %s %s", task, lang, note.split, note.count, note.reason, note.detail)
    return frame, tuple(notes)


def _read_xnli(spec: TaskSpec, lang: str) -> pd.DataFrame:
    files = _xnli_files(lang)
    dev = read_table(files["dev"], ("premise", "hypothesis", "label"), header=False, quoting=csv.QUOTE_NONE)
    test = read_table(files["test"], ("premise", "hypothesis"), header=False, quoting=csv.QUOTE_NONE)
    gold = read_table(files["labels"], ("row", "gold_label", "genre"), header=True, quoting=csv.QUOTE_NONE)
    check_labels(dev, "label", spec.label_names, spec.name)
    check_labels(gold, "gold_label", spec.label_names, spec.name)
    if len(gold.frame) != len(test.frame):
        raise MalformedRowError(
            f"{files['labels']} has {len(gold.frame)} labels but {files['test']} has "
            f"{len(test.frame)} rows; they must align row by row. {RESTORE_HINT}"
        )
    expected = [str(i) for i in range(len(gold.frame))]
    mismatch = np.flatnonzero(gold.frame["row"].to_numpy() != np.asarray(expected, dtype=object))
    if mismatch.size:
        i = int(mismatch[0])
        raise MalformedRowError(
            f"{files['labels']}, line {gold.lines[i]}: row id {gold.frame['row'].iloc[i]!r}, expected {i} "
            f"(the file must list rows 0..{len(expected) - 1} in order); {RESTORE_HINT}"
        )
    ids = xnli_split_rows(len(dev.frame))
    d, t = dev.frame, test.frame
    parts = [
        _frame(d["premise"].iloc[ids["train"]].str.strip(), d["hypothesis"].iloc[ids["train"]].str.strip(),
               d["label"].iloc[ids["train"]], lang, "train"),
        _frame(d["premise"].iloc[ids["validation"]].str.strip(), d["hypothesis"].iloc[ids["validation"]].str.strip(),
               d["label"].iloc[ids["validation"]], lang, "validation"),
        _frame(t["premise"].str.strip(), t["hypothesis"].str.strip(), gold.frame["gold_label"], lang, "test"),
    ]
    return pd.concat(parts, ignore_index=True)


def _read_masakhanews_table(path: Path, spec: TaskSpec, *, header: bool, columns=MASAKHANEWS_COLUMNS) -> Table:
    table = read_table(path, columns, header=header, quoting=csv.QUOTE_MINIMAL)
    check_labels(table, "category", spec.label_names, spec.name)
    return table


def few_shot_union(spec: TaskSpec, lang: str, notes: list[Note] | None = None) -> pd.DataFrame:
    """All official few-shot rows of ``lang`` (few_shot + few_shot_pet), de-duplicated by headline.

    Columns ``category``, ``headline``, ``text``; files in a fixed order (few_shot k=5..50, then
    few_shot_pet k=5..50), the first occurrence of a headline kept. Overlaps with dev/test are
    *not* removed here (see :func:`_read_masakhanews`).
    """
    files = _masakhanews_files(spec, lang)
    frames = []
    for key, path in files.items():
        if key.startswith("few_shot_pet_"):
            table = _read_masakhanews_table(path, spec, header=False)
        elif key.startswith("few_shot_"):
            table = _read_masakhanews_table(path, spec, header=True, columns=MASAKHANEWS_COLUMNS[:3])
        else:
            continue
        frames.append(table.frame[["category", "headline", "text"]])
    union = pd.concat(frames, ignore_index=True)
    key = _clean(union["headline"])
    duplicated = key.duplicated(keep="first")
    if notes is not None and duplicated.any():
        notes.append(Note(spec.name, lang, "train", "duplicate headline across few-shot files", "removed",
                          int(duplicated.sum()), f"{len(union)} few-shot rows -> {int((~duplicated).sum())} distinct"))
    return union[~duplicated].reset_index(drop=True)


def _read_masakhanews(spec: TaskSpec, lang: str, notes: list[Note]) -> pd.DataFrame:
    files = _masakhanews_files(spec, lang)
    dev = _read_masakhanews_table(files["dev"], spec, header=True).frame
    test = _read_masakhanews_table(files["test"], spec, header=True).frame
    dev_heads, test_heads = set(_clean(dev["headline"])), set(_clean(test["headline"]))
    if "train" in files:
        train = _read_masakhanews_table(files["train"], spec, header=True).frame
        heads = _clean(train["headline"])
        for other, heads_other in (("validation", dev_heads), ("test", test_heads)):
            n = int(heads.isin(heads_other).sum())
            if n:
                notes.append(Note(spec.name, lang, "train", f"headline also in {other}", "kept", n,
                                  "official split, kept as published"))
    else:
        train = few_shot_union(spec, lang, notes)
        for other, heads_other in (("validation", dev_heads), ("test", test_heads)):
            overlap = _clean(train["headline"]).isin(heads_other)
            if overlap.any():
                notes.append(Note(spec.name, lang, "train", f"few-shot headline also in {other}", "removed",
                                  int(overlap.sum())))
                train = train[~overlap].reset_index(drop=True)
    parts = [
        _frame(news_text(f["headline"], f["text"]), None, f["category"], lang, split)
        for f, split in ((train, "train"), (dev, "validation"), (test, "test"))
    ]
    return pd.concat(parts, ignore_index=True)


def _read_sib200(spec: TaskSpec, lang: str) -> pd.DataFrame:
    files = _sib200_files(spec, lang)
    parts = []
    for key, split in (("train", "train"), ("dev", "validation"), ("test", "test")):
        table = read_table(files[key], ("index_id", "category", "text"), header=True, quoting=csv.QUOTE_MINIMAL)
        check_labels(table, "category", spec.label_names, spec.name)
        parts.append(_frame(_clean(table.frame["text"]), None, table.frame["category"], lang, split))
    return pd.concat(parts, ignore_index=True)


def _read_xglue_de(spec: TaskSpec, lang: str) -> pd.DataFrame:
    path = _xglue_files(lang)["test"]
    table = read_table(path, ("news_title", "news_body", "news_category"), header=False, quoting=csv.QUOTE_NONE)
    check_labels(table, "news_category", spec.label_names, spec.name)
    f = table.frame
    return _frame(news_text(f["news_title"], f["news_body"]), None, f["news_category"], lang, "test")


def masakhanews_file_labels(lang: str) -> tuple[str, ...]:
    """The labels listed in ``data/masakhanews/<lang>/labels.txt`` (verified against SHA256SUMS)."""
    path = data_dir() / "masakhanews" / lang / "labels.txt"
    verify_file(path)
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
