"""Online loading from the Hugging Face Hub (``source="hub"``), for users with network access.

Each function returns one language in the same schema and split protocol as the offline
readers (:mod:`fedlib.data.readers`), so results stay comparable:

* ``xnli`` -- ``facebook/xnli`` config ``<lang>``: validation rows split by row index exactly
  like the offline dev file (2,000 train / 490 validation, same seed), test = test.
* ``masakhanews`` -- ``masakhane/masakhanews`` config ``<lang>``: the official
  train/validation/test (full train for all 16 languages, unlike offline).
* ``sib200`` / ``nc_standin`` -- ``Davlan/sib200`` config ``<flores code>``: any of its 205
  languages, shipped or not (``load_task("sib200", "kin_Latn")`` reads this one from the Hub).
* ``nc`` -- ``microsoft/xglue`` config ``nc``: XGLUE's train split is English-only, so each
  language's ``validation.<lang>`` (10,000 rows) is split 4:1 by row index into
  train/validation (seed as XNLI) and ``test.<lang>`` is the test split.

Any failure (no network, dataset moved, script-based dataset refused by ``datasets>=4``)
becomes a :class:`~fedlib.data.errors.SourceUnavailableError` that says what to use offline. The
Hub is asked only when it is on and answers: ``FEDLIB_OFFLINE=1``, or no answer within a few
seconds, fails at once instead of after ``datasets``' retries; with ``HF_HUB_OFFLINE=1`` or
``HF_DATASETS_OFFLINE=1``, ``datasets`` reads its local cache only.
"""

from __future__ import annotations

import functools

import pandas as pd

from fedlib.config import HUB_PROBE_SECONDS, env_flag, hub_endpoint, hub_reachable
from fedlib.data.errors import DataError, LabelError, SourceUnavailableError
from fedlib.data.readers import Note, _clean, _frame, drop_empty, news_text
from fedlib.data.splits import split_rows, xnli_split_rows
from fedlib.data.tasks import XNLI_SPLIT_SEED, TaskSpec


def _unavailable(hub_id: str, config: str | None, why: str) -> SourceUnavailableError:
    err = SourceUnavailableError(
        f"could not load {hub_id!r} (config {config!r}) from the Hugging Face Hub: {why}. Offline? Use "
        "source='offline' with the shipped data (for XGLUE NC: task 'nc_standin')."
    )
    err.reason = why  # what read_language says for a language that is not shipped
    return err


def _hub_down() -> str | None:
    """Why ``datasets`` should not be asked now, else None (its cache-only modes are left to it)."""
    if env_flag("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        return None  # datasets reads its local cache and fails at once when the dataset is not there
    switched_off = env_flag("FEDLIB_OFFLINE")
    if switched_off:
        return f"the Hub is switched off ({switched_off})"
    if not hub_reachable():
        return f"no answer from the Hub ({hub_endpoint()}) within {HUB_PROBE_SECONDS:g} s"
    return None


@functools.lru_cache(maxsize=64)
def _load(hub_id: str, config: str | None):
    why = _hub_down()
    if why:
        raise _unavailable(hub_id, config, why)
    try:
        from datasets import load_dataset

        return load_dataset(hub_id, config)
    except Exception as exc:  # noqa: BLE001 - any Hub failure gets the same advice
        raise _unavailable(hub_id, config, f"{type(exc).__name__}: {exc}") from exc


def _labels_as_str(split, column: str) -> pd.Series:
    feature = split.features[column]
    values = split[column]
    if hasattr(feature, "int2str"):
        return pd.Series([feature.int2str(v) if v is not None and v >= 0 else "" for v in values], dtype=str)
    return pd.Series(values, dtype=str)


def _check(labels: pd.Series, spec: TaskSpec, where: str) -> None:
    bad = ~labels.isin(spec.label_names)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise LabelError(
            f"{where}, row {i}: label {labels.iloc[i]!r} is not in the {spec.name!r} label set "
            f"({', '.join(spec.label_names)}); {int(bad.sum())} row(s) affected (test labels hidden?)"
        )


def read_language(spec: TaskSpec, lang: str) -> tuple[pd.DataFrame, tuple[Note, ...]]:
    """One language of ``spec`` from the Hub, in the common schema; (frame, notes)."""
    spec.check_language(lang)
    src = spec.source
    if src.hub_id is None:
        raise SourceUnavailableError(f"task {spec.name!r} has no Hugging Face Hub source; use source='offline'")
    config = src.hub_config.format(lang=spec.file_code(lang)) if src.hub_config else None
    try:
        dd = _load(src.hub_id, config)
    except SourceUnavailableError as err:
        if spec.is_shipped(lang):
            raise
        raise spec.unshipped_error([lang], getattr(err, "reason", str(err))) from err
    where = f"{src.hub_id}[{config}]"
    notes: list[Note] = []

    if spec.name == "xnli":
        val, test = dd["validation"], dd["test"]
        ids = xnli_split_rows(len(val))
        vlab, tlab = _labels_as_str(val, "label"), _labels_as_str(test, "label")
        _check(vlab, spec, f"{where} validation")
        _check(tlab, spec, f"{where} test")
        prem, hyp = pd.Series(val["premise"], dtype=str), pd.Series(val["hypothesis"], dtype=str)
        parts = [
            _frame(prem.iloc[ids[s]], hyp.iloc[ids[s]], vlab.iloc[ids[s]], lang, s) for s in ("train", "validation")
        ]
        parts.append(_frame(test["premise"], test["hypothesis"], tlab, lang, "test"))
    elif spec.name == "masakhanews":
        parts = []
        for hub_split, split in (("train", "train"), ("validation", "validation"), ("test", "test")):
            ds = dd[hub_split]
            labels = _labels_as_str(ds, "label")
            _check(labels, spec, f"{where} {hub_split}")
            text = news_text(pd.Series(ds["headline"], dtype=str), pd.Series(ds["text"], dtype=str))
            parts.append(_frame(text, None, labels, lang, split))
    elif spec.name in ("sib200", "nc_standin"):
        parts = []
        for hub_split, split in (("train", "train"), ("validation", "validation"), ("test", "test")):
            ds = dd[hub_split]
            labels = _labels_as_str(ds, "category")
            _check(labels, spec, f"{where} {hub_split}")
            parts.append(_frame(_clean(pd.Series(ds["text"], dtype=str)), None, labels, lang, split))
    elif spec.name == "nc":
        val, test = dd[f"validation.{lang}"], dd[f"test.{lang}"]
        ids = split_rows(len(val), round(0.8 * len(val)), XNLI_SPLIT_SEED)
        vlab, tlab = _labels_as_str(val, "news_category"), _labels_as_str(test, "news_category")
        _check(vlab, spec, f"{where} validation.{lang}")
        _check(tlab, spec, f"{where} test.{lang}")
        vtext = news_text(pd.Series(val["news_title"], dtype=str), pd.Series(val["news_body"], dtype=str))
        parts = [_frame(vtext.iloc[ids[s]], None, vlab.iloc[ids[s]], lang, s) for s in ("train", "validation")]
        ttext = news_text(pd.Series(test["news_title"], dtype=str), pd.Series(test["news_body"], dtype=str))
        parts.append(_frame(ttext, None, tlab, lang, "test"))
    else:
        raise DataError(f"no Hub reader for task {spec.name!r}")
    frame = drop_empty(pd.concat(parts, ignore_index=True), spec.name, lang, spec.has_pair, notes)
    return frame, tuple(notes)
