"""Bad input gives an exception that names the file/line/language and says what to do.

Each test works on a copy of a few shipped files in tmp_path (``FEDLIB_DATA``), edits it
and, unless the test is about checksums, re-signs it in the copy's SHA256SUMS.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil

import pytest

from fedlib.config import REPO_ROOT
from fedlib.data import (
    ChecksumMismatchError,
    DataError,
    DataFileMissingError,
    LabelError,
    MalformedRowError,
    UnknownLanguageError,
    UnknownTaskError,
    checksums,
    get_task,
    load_report,
    load_task,
    verify_file,
)

REAL = REPO_ROOT / "data"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_sums(root) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SHA256SUMS")
    (root / "SHA256SUMS").write_text("".join(f"{_sha(p)}  {p.relative_to(root).as_posix()}\n" for p in files))


@pytest.fixture()
def data_copy(tmp_path, monkeypatch):
    """``make(*paths)`` copies shipped files/folders into tmp_path/data and points FEDLIB_DATA there."""
    root = tmp_path / "data"

    def make(*rel_paths: str):
        for rel in rel_paths:
            src, dst = REAL / rel, root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        _write_sums(root)
        monkeypatch.setenv("FEDLIB_DATA", str(root))
        return root

    return make


def read_text(path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8") if path.suffix == ".gz" else path.read_text("utf-8")


def write_text(path, text: str, *, sign: bool = True) -> None:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    if sign:
        root = next(p for p in path.parents if (p / "SHA256SUMS").exists())
        _write_sums(root)


def replace_line(path, lineno: int, new: str, *, sign: bool = True) -> None:
    lines = read_text(path).split("\n")
    lines[lineno - 1] = new
    write_text(path, "\n".join(lines), sign=sign)


XNLI_DE = ("xnli/dev-de.tsv.gz", "xnli/test-de.tsv.gz", "xnli/test-labels.tsv")


# ---------------------------------------------------------------- names
def test_unknown_task_lists_valid_tasks():
    with pytest.raises(UnknownTaskError, match=r"unknown task 'xnlii'; valid tasks: xnli, masakhanews, sib200"):
        load_task("xnlii")
    with pytest.raises(KeyError):
        get_task("nope")


def test_unknown_language_lists_valid_languages():
    with pytest.raises(UnknownLanguageError, match=r"unknown language 'xx' for task 'xnli'; valid languages: ar, bg"):
        load_task("xnli", ["de", "xx"])
    with pytest.raises(UnknownLanguageError, match="hau, ibo"):
        load_task("masakhanews", "ha")
    with pytest.raises(UnknownLanguageError, match="no language selected"):
        load_task("xnli", [])


def test_unknown_source():
    with pytest.raises(DataError, match="unknown source 'web'; choose one of auto, offline, hub"):
        load_task("xnli", "en", source="web")


# ---------------------------------------------------------------- missing / malformed files
def test_missing_file(data_copy):
    root = data_copy(*XNLI_DE)
    (root / "xnli" / "dev-de.tsv.gz").unlink()
    with pytest.raises(DataFileMissingError, match=r"dev-de\.tsv\.gz.*language 'de'.*git checkout data/"):
        load_task("xnli", "de")


def test_missing_few_shot_file(data_copy):
    root = data_copy("masakhanews/tir", "masakhanews/few_shot")
    (root / "masakhanews/few_shot/20_samples/tir/train.tsv.gz").unlink()
    with pytest.raises(DataFileMissingError, match=r"20_samples/tir/train\.tsv\.gz"):
        load_task("masakhanews", "tir")


@pytest.mark.parametrize("row", ["a\tb\tneutral\textra", "only premise\tneutral"])
def test_malformed_xnli_row(data_copy, row):
    root = data_copy(*XNLI_DE)
    replace_line(root / "xnli" / "dev-de.tsv.gz", 3, row)
    n = row.count("\t") + 1
    with pytest.raises(MalformedRowError, match=rf"dev-de\.tsv\.gz, line 3: expected 3 tab-separated fields "
                                                rf"\(premise, hypothesis, label\), found {n}"):
        load_task("xnli", "de")


def test_malformed_quoted_row(data_copy):
    root = data_copy("masakhanews/lin")
    path = root / "masakhanews" / "lin" / "dev.tsv.gz"
    write_text(path, read_text(path).rstrip("\n") + "\nsports\tA headline\t\"an article\nover two lines\"\n")
    with pytest.raises(MalformedRowError,
                       match=r"lin/dev\.tsv\.gz, line \d+: expected 4 tab-separated fields.*found 3"):
        load_task("masakhanews", "lin")


def test_wrong_header(data_copy):
    root = data_copy("masakhanews/lin")
    replace_line(root / "masakhanews" / "lin" / "test.tsv.gz", 1, "label\theadline\ttext\turl")
    with pytest.raises(MalformedRowError, match=r"test\.tsv\.gz, line 1: expected the header"):
        load_task("masakhanews", "lin")


def test_corrupt_gzip(data_copy):
    root = data_copy("sib200/eng_Latn")
    (root / "sib200/eng_Latn/dev.tsv.gz").write_bytes(b"not gzip at all")
    _write_sums(root)
    with pytest.raises(MalformedRowError, match="not a valid gzip file"):
        load_task("sib200", "eng_Latn")


def test_xnli_test_labels_must_align(data_copy):
    root = data_copy(*XNLI_DE)
    path = root / "xnli" / "test-labels.tsv"
    write_text(path, "\n".join(read_text(path).split("\n")[:-2]) + "\n")  # drop the last label
    with pytest.raises(MalformedRowError,
                       match=r"test-labels\.tsv has 5009 labels but .*test-de\.tsv\.gz has 5010 rows"):
        load_task("xnli", "de")
    shutil.copy2(REAL / "xnli" / "test-labels.tsv", path)
    replace_line(path, 3, "7\tentailment\tfacetoface")
    with pytest.raises(MalformedRowError, match=r"test-labels\.tsv, line 3: row id '7', expected 1"):
        load_task("xnli", "de")


# ---------------------------------------------------------------- labels
def test_label_outside_label_set(data_copy):
    root = data_copy("sib200/eng_Latn")
    path = root / "sib200" / "eng_Latn" / "dev.tsv.gz"
    fields = read_text(path).split("\n")[4].split("\t")
    replace_line(path, 5, "\t".join([fields[0], "weather", fields[2]]))
    with pytest.raises(LabelError,
                       match=r"eng_Latn/dev\.tsv\.gz, line 5: label 'weather' is not in the 'sib200' label set"):
        load_task("sib200", "eng_Latn")


def test_xnli_label_outside_label_set(data_copy):
    root = data_copy(*XNLI_DE)
    path = root / "xnli" / "dev-de.tsv.gz"
    premise, hypothesis, _ = read_text(path).split("\n")[9].split("\t")
    replace_line(path, 10, f"{premise}\t{hypothesis}\tmaybe")
    with pytest.raises(LabelError,
                       match=r"dev-de\.tsv\.gz, line 10: label 'maybe'.*entailment, neutral, contradiction"):
        load_task("xnli", "de")


# ---------------------------------------------------------------- removed rows are reported
def test_empty_text_rows_are_removed_and_reported(data_copy, caplog):
    root = data_copy("sib200/eng_Latn")
    path = root / "sib200" / "eng_Latn" / "dev.tsv.gz"
    fields = read_text(path).split("\n")[1].split("\t")
    replace_line(path, 2, "\t".join([fields[0], fields[1], "   "]))
    with caplog.at_level(logging.INFO, logger="fedlib.data"):
        dd = load_task("sib200", "eng_Latn")
    assert len(dd["validation"]) == 98 and len(dd["train"]) == 701
    assert "removed 1 (empty text)" in dd["validation"].info.description
    assert "empty text" in caplog.text
    report = load_report("sib200", "eng_Latn")
    assert report[["lang", "split", "reason", "action", "count"]].values.tolist() == [
        ["eng_Latn", "validation", "empty text", "removed", 1]
    ]


# ---------------------------------------------------------------- checksums
def test_checksum_mismatch(data_copy):
    root = data_copy("sib200/eng_Latn")
    path = root / "sib200" / "eng_Latn" / "dev.tsv.gz"
    expected, original = _sha(path), path.read_bytes()
    write_text(path, read_text(path).replace("the", "teh", 1), sign=False)
    actual = _sha(path)
    with pytest.raises(ChecksumMismatchError) as info:
        load_task("sib200", "eng_Latn")
    message = str(info.value)
    assert "eng_Latn/dev.tsv.gz" in message and expected in message and actual in message
    assert "git checkout data/" in message
    path.write_bytes(original)  # the restored bytes load again
    assert len(load_task("sib200", "eng_Latn")["validation"]) == 99


def test_cli_refuses_to_run_on_a_corrupted_file(data_copy, results_tmp, capsys, monkeypatch):
    from fedlib import paradigms
    from fedlib.cli import main
    from fedlib.federated import client_app as client

    root = data_copy("sib200/eng_Latn")
    path = root / "sib200" / "eng_Latn" / "train.tsv.gz"
    write_text(path, read_text(path).replace("the", "teh", 1), sign=False)
    for module in (client, paradigms):
        monkeypatch.setattr(module, "train_local", lambda *a, **k: pytest.fail("training started"))
    # A seed no other test uses: the clients are built afresh (not from the in-process cache).
    rc = main(["run", "--task", "sib200", "--languages", "eng_Latn", "--profile", "smoke", "--seed", "7919",
               "--rounds", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "eng_Latn/train.tsv.gz" in err and "git checkout data/" in err
    assert not results_tmp.exists() or not list(results_tmp.rglob("*.json"))


def test_unlisted_file_is_refused(data_copy):
    root = data_copy("sib200/eng_Latn")
    sums = root / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines() if "dev.tsv.gz" not in line))
    with pytest.raises(ChecksumMismatchError, match=r"dev\.tsv\.gz is not listed in .*SHA256SUMS"):
        load_task("sib200", "eng_Latn")


def test_verification_is_cached(data_copy, monkeypatch):
    root = data_copy("sib200/eng_Latn")
    calls = []
    real = checksums.sha256_of
    monkeypatch.setattr(checksums, "sha256_of", lambda p: calls.append(p) or real(p))
    path = root / "sib200" / "eng_Latn" / "test.tsv.gz"
    verify_file(path)
    verify_file(path)
    assert len(calls) == 1


def test_folder_without_sha256sums_loads_with_warning(data_copy, caplog):
    root = data_copy("sib200/eng_Latn")
    (root / "SHA256SUMS").unlink()
    with caplog.at_level(logging.WARNING, logger="fedlib.data"):
        dd = load_task("sib200", "eng_Latn")
    assert len(dd["test"]) == 204
    assert "not verified" in caplog.text
