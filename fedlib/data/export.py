"""Write languages of a shipped task as a folder task (:mod:`fedlib.data.folder`): a template to copy.

>>> write_folder("sib200", {"hau_Latn": "hausa", "yor_Latn": "yoruba"}, "my_languages",
...              text_column="sentence", label_column="topic")   # my_languages/hausa/train.csv, ...
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fedlib.data.errors import DataError
from fedlib.data.folder import SPLIT_SHOWN
from fedlib.data.loader import load_task


def write_folder(task: str, languages: dict[str, str] | Iterable[str], dest, *, text_column: str = "text",
                 pair_column: str = "text_pair", label_column: str = "label") -> Path:
    """Each language of ``task`` as ``dest/<name>/{train,dev,test}.csv``; returns ``dest``.

    ``languages`` maps a language of the task to its sub-folder's name (or lists languages, kept as
    named). Columns: ``text_column``, ``pair_column`` (pair tasks only) and ``label_column`` (the
    label's name). A file that already holds the same content is not rewritten, so a folder built
    again from the same data keeps its files' mtimes (and its cached reading). Other sub-folders in
    ``dest`` would be languages too: they are refused.
    """
    names = dict(languages) if isinstance(languages, dict) else {lang: lang for lang in languages}
    dest = Path(dest)
    others = sorted(p.name for p in dest.glob("*") if p.is_dir() and p.name not in names.values())
    if others:  # they would be languages of the folder task too
        raise DataError(f"{dest} already holds other sub-folders ({', '.join(others)}); remove them or write "
                        "to another folder")
    splits = load_task(task, list(names))
    label_names = splits["train"].features["label"].names
    for split, rows in splits.items():
        frame = rows.to_pandas()
        frame[label_column] = [label_names[i] for i in frame["label"]]
        columns = {"text": text_column, "text_pair": pair_column} if any(frame["text_pair"]) else {"text": text_column}
        for lang, name in names.items():
            content = (frame.loc[frame["lang"] == lang].rename(columns=columns)
                       [[*columns.values(), label_column]].to_csv(index=False))
            path = dest / name / f"{SPLIT_SHOWN[split]}.csv"
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
    return dest
