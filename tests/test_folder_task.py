"""A folder is a task: formats, columns, labels, duplicates, identity, bad input and the command line.

Every test builds its folder in tmp_path; runs write their artifacts into ``results_tmp``.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import logging
import re
import shutil

import pytest

from fedlib.config import REPO_ROOT
from fedlib.data import (
    errors,
    folder_task_name,
    get_task,
    is_folder_task,
    load_report,
    load_task,
    task_file_name,
    write_folder,
)
from fedlib.experiment import ExperimentConfig

ROWS = {  # language -> split -> (text, label); "lb" never trains on "c"
    "la": {"train": [("one", "a"), ("two", "b"), ("three", "c")], "dev": [("four", "a")], "test": [("five", "c")]},
    "lb": {"train": [("un", "a"), ("deux", "b")], "dev": [("trois", "b")], "test": [("quatre", "a"), ("cinq", "c")]},
}


def _encode(rows: list[dict], extension: str) -> bytes:
    if extension == ".jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter="\t" if extension == ".tsv" else ",")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def make_folder(root, rows=ROWS, *, extension=".csv", gz=False, columns=("text", "label"), dev_name="dev"):
    """A folder task in ``root``: one sub-folder per language, each split written in ``extension``."""
    for lang, splits in rows.items():
        for split, items in splits.items():
            records = [dict(zip(columns, item, strict=True)) | {"id": str(i)} for i, item in enumerate(items)]
            name = (dev_name if split == "dev" else split) + extension + (".gz" if gz else "")
            data = _encode(records, extension)
            path = root / lang / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return root


def split_file(root, lang: str, split: str):
    (path,) = (root / lang).glob(f"{split}.*")
    return path


# ---------------------------------------------------------------- formats and columns
@pytest.mark.parametrize("extension", [".tsv", ".csv", ".jsonl"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_every_format_reads_the_same_rows(tmp_path, extension, gz):
    root = make_folder(tmp_path / "data", extension=extension, gz=gz, dev_name="validation" if gz else "dev")
    dd = load_task(folder=root)
    assert get_task(folder_task_name(root)).languages == ("la", "lb")
    train = dd["train"]
    names = train.features["label"].names
    assert names == ["a", "b", "c"]  # the sorted union
    assert list(zip(train["lang"], train["text"], [names[i] for i in train["label"]], strict=True)) == [
        ("la", "one", "a"), ("la", "two", "b"), ("la", "three", "c"), ("lb", "un", "a"), ("lb", "deux", "b")]
    assert dd["validation"]["text"] == ["four", "trois"]
    assert dd["test"]["text"] == ["five", "quatre", "cinq"]
    assert set(dd["test"]["text_pair"]) == {""}


def test_custom_columns_are_read_and_extra_columns_ignored(tmp_path):
    root = make_folder(tmp_path / "data", columns=("sentence", "topic"))
    dd = load_task(folder=root, text_column="sentence", label_column="topic")
    assert dd["train"]["text"][:2] == ["one", "two"]
    assert "id" not in dd["train"].column_names


def test_sentence_pairs(tmp_path):
    rows = {lang: {split: [(text, text.upper(), label) for text, label in items] for split, items in splits.items()}
            for lang, splits in ROWS.items()}
    root = make_folder(tmp_path / "data", rows, extension=".jsonl", columns=("premise", "hypothesis", "label"))
    name = folder_task_name(root, text_column="premise", pair_column="hypothesis")
    assert get_task(name).has_pair
    dd = load_task(name)
    assert dd["train"]["text_pair"][:2] == ["ONE", "TWO"]


def test_a_language_missing_a_label_is_kept_and_reported(tmp_path, caplog):
    root = make_folder(tmp_path / "data")
    name = folder_task_name(root)
    with caplog.at_level(logging.WARNING, logger="fedlib.data.folder"):
        spec = get_task(name)
    assert spec.label_names == ("a", "b", "c")
    assert spec.labels_for("lb") == ("a", "b", "c")  # lb tests on c, never trains on it
    report = load_report(name)
    (note,) = report.itertuples()
    assert (note.lang, note.split, note.action, note.count, note.detail) == ("lb", "train", "kept", 1, "c")
    assert "'lb' has no training row of label(s) c" in caplog.text
    assert "lb: kept 1 (label(s) with no training row in this language, c)" in load_task(name)["train"].info.description


# ---------------------------------------------------------------- duplicates across splits
def _with_duplicates():
    rows = copy.deepcopy(ROWS)
    rows["la"]["dev"].append(["one", "a"])  # train row also in dev
    rows["la"]["test"].append(["two", "b"])  # train row also in test
    rows["lb"]["dev"].append(["sept", "a"])
    rows["lb"]["test"].append(["trois", "b"])  # dev row also in test
    return rows


def test_duplicates_across_splits_are_refused_by_default(tmp_path):
    root = make_folder(tmp_path / "data", _with_duplicates())
    with pytest.raises(errors.DuplicateRowError) as err:
        load_task(folder=root)
    message = str(err.value)
    assert f"{root / 'la'}: 2 row(s) of 'la' share their text" in message
    assert "2 train row(s) also in dev or test, 0 dev row(s) also in test" in message
    assert "train.csv, dev.csv, test.csv" in message and "duplicates='drop'" in message
    assert "--duplicates drop" in message


def test_duplicates_dropped_from_train_and_dev_and_counted(tmp_path):
    root = make_folder(tmp_path / "data", _with_duplicates())
    name = folder_task_name(root, duplicates="drop")
    dd = load_task(name)
    assert dd["train"]["text"] == ["three", "un", "deux"]
    assert dd["validation"]["text"] == ["four", "one", "sept"]  # lb's dev row "trois" is also in its test
    assert len(dd["test"]) == 5  # test is never changed
    report = load_report(name)
    removed = report[report["action"] == "removed"]
    assert removed[["lang", "split", "count"]].values.tolist() == [["la", "train", 2], ["lb", "validation", 1]]


def test_write_folder_round_trips_shipped_languages(tmp_path):
    root = write_folder("sib200", {"hau_Latn": "hausa", "yor_Latn": "yoruba"}, tmp_path / "out",
                        text_column="sentence", label_column="topic")
    mine = load_task(folder=root, text_column="sentence", label_column="topic")
    shipped = load_task("sib200", ["hau_Latn", "yor_Latn"])
    names = shipped["test"].features["label"].names
    for split in ("train", "validation", "test"):
        assert mine[split]["text"] == shipped[split]["text"]
        assert ([mine[split].features["label"].names[i] for i in mine[split]["label"]]
                == [names[i] for i in shipped[split]["label"]])
    (root / "stray").mkdir()
    with pytest.raises(errors.DataError, match=r"already holds other sub-folders \(stray\)"):
        write_folder("sib200", {"hau_Latn": "hausa", "yor_Latn": "yoruba"}, root)


# ---------------------------------------------------------------- bad input
def test_a_missing_split_names_the_language_folder(tmp_path):
    root = make_folder(tmp_path / "data")
    split_file(root, "lb", "test").rename(root / "lb" / "tests.csv")
    with pytest.raises(errors.DataFileMissingError, match=re.escape(f"{root / 'lb'}: no test file (found: dev.csv, "
                                                             "tests.csv, train.csv)")):
        load_task(folder=root)


@pytest.mark.parametrize("content, what", [(b"", "nothing"), (b"text,label\n", "only a header")])
def test_an_empty_file_is_named(tmp_path, content, what):
    root = make_folder(tmp_path / "data")
    path = split_file(root, "la", "dev")
    path.write_bytes(content)
    with pytest.raises(errors.EmptyPartitionError, match=re.escape(f"{path}: the file has no rows ({what})")):
        load_task(folder=root)


def test_a_missing_column_lists_the_columns_found(tmp_path):
    root = make_folder(tmp_path / "data")
    path = split_file(root, "la", "train")
    with pytest.raises(errors.MalformedRowError, match=re.escape(f"{path}: no column 'category' (columns found: text, "
                                                          "label, id); name the right one with label_column=")):
        load_task(folder=root, label_column="category")


@pytest.mark.parametrize("lang, split, row, problem", [
    ("lb", "test", ("six", "z"), "'z' only in test: {lb}/test.csv (1 row(s))"),  # no model could learn it
    ("la", "train", ("seven", " "), "{la}/train.csv, line 5: empty label"),
])
def test_a_label_problem_names_the_file(tmp_path, lang, split, row, problem):
    rows = copy.deepcopy(ROWS)
    rows[lang][split].append(row)
    root = make_folder(tmp_path / "data", rows)
    with pytest.raises(errors.LabelError, match=re.escape(problem.format(la=root / "la", lb=root / "lb"))):
        load_task(folder=root)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    root = make_folder(tmp_path / "data")
    path = split_file(root, "la", "train")
    path.write_bytes(path.read_bytes() + "café,a,9\n".encode("latin-1"))
    with pytest.raises(errors.MalformedRowError, match=re.escape(f"{path}, line 5: not valid UTF-8")) as err:
        load_task(folder=root)
    assert "save the file as UTF-8" in str(err.value)


@pytest.mark.parametrize("extension, bad, problem", [
    (".csv", b"eight,a,1,extra\n", "line 5: 4 fields, but the header has 3 (text, label, id)"),
    (".jsonl", b"{not json}\n", "line 4: not valid JSON"),
    (".tsv", b'eight\t"a\t1\nnine\ta\t2\n', "line 6: unparsable (unexpected end of data)"),  # a stray quote
])
def test_a_malformed_row_names_its_line(tmp_path, extension, bad, problem):
    root = make_folder(tmp_path / "data", extension=extension)
    path = split_file(root, "la", "train")
    path.write_bytes(path.read_bytes() + bad)
    with pytest.raises(errors.MalformedRowError, match=re.escape(f"{path}, {problem}")):
        load_task(folder=root)


def test_a_folder_that_does_not_exist_or_has_no_languages(tmp_path):
    with pytest.raises(errors.DataFileMissingError, match=re.escape(f"{tmp_path / 'nowhere'} does not exist")):
        load_task(folder=tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "train.csv").write_text("text,label\nx,a\n")
    no_languages = re.escape(f"{tmp_path / 'flat'} has no language sub-folders")
    with pytest.raises(errors.DataFileMissingError, match=no_languages):
        load_task(folder=tmp_path / "flat")


def test_a_federated_run_needs_two_languages(tmp_path):
    name = folder_task_name(make_folder(tmp_path / "data"))
    with pytest.raises(ValueError, match=r"a federated run needs at least two clients, and 1 language\(s\) \(la\)"):
        ExperimentConfig(task=name, languages=("la",), paradigm="federated").resolved()
    ExperimentConfig(task=name, languages=("la",), paradigm="monolingual").resolved()  # alone is fine


def test_folder_options_apply_to_folders_only(tmp_path):
    with pytest.raises(errors.DataError, match="label_column apply to folder=DIR only"):
        load_task("sib200", label_column="category")
    with pytest.raises(errors.DataError, match="duplicates='sometimes'"):
        folder_task_name(tmp_path, duplicates="sometimes")


# ---------------------------------------------------------------- identity
def test_the_name_carries_path_and_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = folder_task_name("my data", label_column="category", pair_column="second")
    assert name == f"folder:{tmp_path.resolve()}/my%20data?text=text&pair=second&label=category&duplicates=refuse"
    assert is_folder_task(name) and not is_folder_task("sib200")
    assert re.fullmatch(r"folder-my_data-[0-9a-f]{8}", task_file_name(name))
    assert task_file_name("sib200") == "sib200"


def test_the_config_hash_follows_the_files_content(tmp_path):
    root = make_folder(tmp_path / "data")
    name = folder_task_name(root)
    config = ExperimentConfig(task=name, paradigm="monolingual")
    before = config.config_hash()
    assert get_task(name) is get_task(name)  # cached while the files are unchanged
    assert config.resolved().data_fingerprint is not None

    path = split_file(root, "la", "train")
    content = path.read_bytes()
    path.write_bytes(content)  # same bytes, new mtime: same identity
    assert config.config_hash() == before
    path.write_bytes(content.replace(b"three", b"tres"))
    assert config.config_hash() != before
    assert "tres" in load_task(name)["train"]["text"]


def test_a_config_resolved_before_its_files_changed_is_not_run(tmp_path):
    from fedlib.client_datasets import build_clients

    root = make_folder(tmp_path / "data")
    cfg = ExperimentConfig(task=folder_task_name(root), paradigm="monolingual").resolved()
    path = split_file(root, "la", "train")
    path.write_bytes(path.read_bytes().replace(b"three", b"tres"))
    with pytest.raises(errors.DataError, match="changed since this config was resolved"):
        build_clients(cfg)


def test_shipped_tasks_keep_their_identity():
    cfg = ExperimentConfig(task="sib200", languages=("eng_Latn",), profile="smoke").resolved()
    assert cfg.data_fingerprint is None and "data_fingerprint" not in cfg.identity_json()


# ---------------------------------------------------------------- the command line
UNSHIPPED = {"eng_Latn": "lang_a", "deu_Latn": "lang_b", "hau_Latn": "lang_c", "yor_Latn": "lang_d"}


@pytest.fixture()
def sib_format_folder(tmp_path):
    """Four languages fedlib does not ship: shipped SIB-200 files (index_id, category, text) renamed."""
    root = tmp_path / "mine"
    for shipped, new in UNSHIPPED.items():
        shutil.copytree(REPO_ROOT / "data" / "sib200" / shipped, root / new)
    return root


@pytest.mark.parametrize("paradigm", ["federated", "monolingual"])
def test_cli_runs_a_folder_and_prints_per_language_accuracy(sib_format_folder, results_tmp, monkeypatch, capsys,
                                                             paradigm):
    from fedlib.cli import main

    monkeypatch.setenv("FEDLIB_PROFILE", "smoke")
    rc = main(["run", "--data", str(sib_format_folder), "--label-column", "category", "--paradigm", paradigm,
               "--method", "prompt", "--rounds", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    for lang in UNSHIPPED.values():
        assert re.search(rf"^\s+{lang}\s+accuracy \d\.\d{{3}}", out, re.M), out
    (path,) = results_tmp.rglob("*.json")
    artifact = json.loads(path.read_text())
    assert artifact["data_folder"]["path"] == str(sib_format_folder)
    assert artifact["data_folder"]["columns"] == {"text": "text", "pair": None, "label": "category"}
    assert len(artifact["data_folder"]["labels"]) == 7
    assert sorted(artifact["data_checksums"]) == sorted(f"{lang}/{split}.tsv.gz" for lang in UNSHIPPED.values()
                                                        for split in ("dev", "test", "train"))


def test_cli_refuses_a_bad_folder_with_the_reason(tmp_path, results_tmp, capsys):
    from fedlib.cli import main

    rc = main(["run", "--data", str(tmp_path / "nowhere"), "--paradigm", "monolingual"])
    assert rc != 0
    assert "does not exist" in capsys.readouterr().err


def test_cli_compare_takes_a_folder(sib_format_folder, results_tmp, monkeypatch, capsys):
    from fedlib.cli import main

    monkeypatch.setenv("FEDLIB_PROFILE", "smoke")
    rc = main(["compare", "--data", str(sib_format_folder), "--label-column", "category",
               "--languages", "lang_a,lang_b", "--arms", "monolingual,federated"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert re.search(r"^lang_a\s+\d+\.\d\s+\d+\.\d", out, re.M), out
