"""The shipped data: row counts, labels, split protocol and schema, on the real files in data/."""

from __future__ import annotations

import collections
import gzip
import hashlib

import numpy as np
import pandas as pd
import pytest

from fedlib.config import REPO_ROOT
from fedlib.data import (
    TASKS,
    XLMR_CC100_LANGUAGES,
    SourceUnavailableError,
    data_card,
    few_shot_languages,
    few_shot_union,
    get_task,
    in_xlmr_pretraining,
    load_report,
    load_task,
    separates_words,
    tokenization_table,
    tokens_per_character,
    tokens_per_word,
    verify_all,
    xnli_split_rows,
)
from fedlib.data.loader import resolve_source
from fedlib.data.readers import masakhanews_file_labels

DATA = REPO_ROOT / "data"
SPLITS = ("train", "validation", "test")

MASAKHANEWS_ROWS = {  # lang: (train, dev, test) from data/README.md; train None = few-shot only
    "amh": (None, 188, 376), "eng": (None, 472, 948), "fra": (None, 211, 422),
    "hau": (None, 317, 637), "ibo": (1356, 194, 390), "lin": (608, 87, 175),
    "lug": (771, 110, 223), "orm": (1128, 162, 325), "pcm": (1060, 152, 305),
    "run": (1117, 159, 322), "sna": (1288, 185, 369), "som": (1021, 148, 294),
    "swa": (None, 237, 476), "tir": (None, 137, 272), "xho": (1032, 147, 297),
    "yor": (1433, 206, 411),
}
FEW_SHOT_DISTINCT = {"amh": 464, "eng": 735, "fra": 548, "hau": 801, "swa": 717, "tir": 300}
FEW_SHOT_OVERLAP = {"amh": (5, 10), "eng": (1, 1), "fra": (0, 1), "hau": (0, 0), "swa": (0, 0), "tir": (0, 0)}


@pytest.fixture(scope="module", autouse=True)
def _real_data(monkeypatch_module):
    monkeypatch_module.delenv("FEDLIB_DATA", raising=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def xnli():
    return load_task("xnli")


@pytest.fixture(scope="module")
def masakhanews():
    return load_task("masakhanews")


@pytest.fixture(scope="module")
def sib200():
    return load_task("sib200")


def counts_by_lang(dd) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for split in SPLITS:
        for lang, n in dd[split].to_pandas()["lang"].value_counts().items():
            out[lang][split] = int(n)
    return dict(out)


@pytest.fixture(scope="module")
def masakhanews_frames(masakhanews):
    return {split: masakhanews[split].to_pandas() for split in SPLITS}


# ---------------------------------------------------------------- shipped files
def test_sha256sums_lists_exactly_the_shipped_files():
    listed = {line.split(None, 1)[1] for line in (DATA / "SHA256SUMS").read_text().splitlines() if line.strip()}
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    assert on_disk - listed == {"README.md", "SHA256SUMS"}
    assert listed <= on_disk
    assert len(listed) == 242
    assert not any("myxnli" in p for p in listed)


def test_every_shipped_file_matches_its_checksum():
    checked = verify_all(DATA)
    assert len(checked) == 242
    sample = DATA / "xnli" / "dev-en.tsv.gz"
    line = next(x for x in (DATA / "SHA256SUMS").read_text().splitlines() if x.endswith("xnli/dev-en.tsv.gz"))
    assert hashlib.sha256(sample.read_bytes()).hexdigest() == line.split()[0]


def test_data_is_small_and_gzipped():
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 40e6
    for p in DATA.rglob("*.gz"):
        with gzip.open(p) as f:
            f.read(1)


# ---------------------------------------------------------------- registry
def test_registry():
    assert set(TASKS) == {"xnli", "masakhanews", "sib200", "nc", "nc_standin", "xglue_nc_de_sample"}
    assert get_task("xnli").languages == tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
    assert get_task("xnli").label_names == ("entailment", "neutral", "contradiction")
    assert get_task("xnli").has_pair and not get_task("masakhanews").has_pair
    assert len(get_task("masakhanews").languages) == 16
    assert get_task("masakhanews").label_names == (
        "business", "entertainment", "health", "politics", "religion", "sports", "technology")
    assert len(get_task("sib200").languages) == 27
    nc = get_task("nc")
    assert nc.languages == ("en", "de", "es", "fr", "ru") and len(nc.label_names) == 10
    assert set(nc.label_names) == {"news", "sports", "entertainment", "finance", "lifestyle", "autos", "video",
                                   "health", "travel", "foodanddrink"}
    standin = get_task("nc_standin")
    assert standin.stand_in_for == "nc" and standin.languages == nc.languages
    assert "STAND-IN" in standin.description
    for spec in TASKS.values():
        assert spec.stand_in_for in (None, "nc")
        hash(spec)  # frozen and hashable


def test_xlmr_coverage_table():
    assert len(XLMR_CC100_LANGUAGES) == 100
    covered = {lang: in_xlmr_pretraining(lang) for lang in get_task("masakhanews").languages}
    assert covered == {
        "amh": True, "eng": True, "fra": True, "hau": True, "ibo": False, "lin": False, "lug": False,
        "orm": True, "pcm": False, "run": False, "sna": False, "som": True, "swa": True, "tir": False,
        "xho": True, "yor": False,
    }
    assert all(in_xlmr_pretraining(lang) for lang in get_task("xnli").languages)
    assert in_xlmr_pretraining("gaz_Latn") and not in_xlmr_pretraining("yor_Latn")


# ---------------------------------------------------------------- schema
@pytest.mark.parametrize("task", ["xnli", "masakhanews", "sib200", "nc_standin", "xglue_nc_de_sample"])
def test_schema(task):
    dd = load_task(task, get_task(task).languages[:2])
    assert list(dd) == list(SPLITS)
    spec = get_task(task)
    for split in SPLITS:
        ds = dd[split]
        assert ds.column_names == ["text", "text_pair", "label", "lang", "split"]
        assert ds.features["label"].names == list(spec.label_names)
        assert set(ds["split"]) <= {split}
        assert all(t.strip() for t in ds["text"])
        if spec.has_pair:
            assert all(t.strip() for t in ds["text_pair"])
        else:
            assert set(ds["text_pair"]) <= {""}
        assert task in ds.info.description


def test_deterministic_order_and_language_selection():
    a = load_task("sib200", ["yor_Latn", "eng_Latn"])
    b = load_task("sib200", ["yor_Latn", "eng_Latn"])
    for split in SPLITS:
        assert a[split]["text"] == b[split]["text"]
        langs = a[split]["lang"]
        assert list(dict.fromkeys(langs)) == ["yor_Latn", "eng_Latn"]
    assert load_task("sib200", "eng_Latn")["train"]["lang"] == ["eng_Latn"] * 701


# ---------------------------------------------------------------- XNLI
def test_xnli_row_counts(xnli):
    counts = counts_by_lang(xnli)
    assert set(counts) == set(get_task("xnli").languages)
    for lang, c in counts.items():
        assert c == {"train": 2000, "validation": 490, "test": 5010}, lang


def test_xnli_test_labels_align(xnli):
    test = xnli["test"].to_pandas()
    names = xnli["test"].features["label"].names
    for lang, part in test.groupby("lang"):
        assert collections.Counter(part["label"]) == {0: 1670, 1: 1670, 2: 1670}, lang
    # the same gold label sequence in every language (parallel rows)
    seqs = {lang: tuple(part["label"]) for lang, part in test.groupby("lang")}
    assert len(set(seqs.values())) == 1
    en = test[test["lang"] == "en"].reset_index(drop=True)
    assert names[en["label"][0]] == "contradiction" and names[en["label"][1]] == "entailment"


def test_xnli_split_by_row_index(xnli):
    ids = xnli_split_rows()
    train, val = set(ids["train"]), set(ids["validation"])
    assert len(train) == 2000 and len(val) == 490 and not train & val and train | val == set(range(2490))
    assert (xnli_split_rows()["train"] == ids["train"]).all()
    dev = pd.read_csv(DATA / "xnli" / "dev-de.tsv.gz", sep="\t", header=None, quoting=3, keep_default_na=False)
    train = xnli["train"].to_pandas()
    assert list(train.loc[train["lang"] == "de", "text"]) == [s.strip() for s in dev[0].iloc[ids["train"]]]
    for split in ("train", "validation"):
        frame = xnli[split].to_pandas()
        seqs = {lang: tuple(part["label"]) for lang, part in frame.groupby("lang")}
        assert len(set(seqs.values())) == 1, f"{split} rows are not the same row ids in every language"


def test_xnli_dev_labels_identical_across_languages():
    labels = {
        lang: tuple(pd.read_csv(DATA / "xnli" / f"dev-{lang}.tsv.gz", sep="\t", header=None, quoting=3,
                                keep_default_na=False)[2])
        for lang in ("en", "sw", "zh")
    }
    assert len(set(labels.values())) == 1


# ---------------------------------------------------------------- MasakhaNEWS
def test_masakhanews_row_counts(masakhanews):
    counts = counts_by_lang(masakhanews)
    for lang, (train, dev, test) in MASAKHANEWS_ROWS.items():
        assert counts[lang]["validation"] == dev and counts[lang]["test"] == test, lang
        if train is not None:
            assert counts[lang]["train"] == train, lang
        else:
            removed = sum(FEW_SHOT_OVERLAP[lang])
            assert counts[lang]["train"] == FEW_SHOT_DISTINCT[lang] - removed, lang


def test_masakhanews_few_shot_union():
    spec = get_task("masakhanews")
    assert few_shot_languages("masakhanews") == ("amh", "eng", "fra", "hau", "swa", "tir")
    assert few_shot_languages("masakhanews", source="hub") == ()
    assert few_shot_languages("xnli") == ()
    for lang, n in FEW_SHOT_DISTINCT.items():
        assert len(few_shot_union(spec, lang)) == n, lang
    report = load_report("masakhanews")
    removed = report[report["action"] == "removed"]
    for lang, (in_dev, in_test) in FEW_SHOT_OVERLAP.items():
        rows = removed[removed["lang"] == lang].set_index("reason")["count"]
        assert rows.get("few-shot headline also in validation", 0) == in_dev, lang
        assert rows.get("few-shot headline also in test", 0) == in_test, lang
    assert set(removed["lang"]) <= set(FEW_SHOT_DISTINCT)


def test_masakhanews_few_shot_train_disjoint_from_eval(masakhanews_frames):
    for lang in FEW_SHOT_DISTINCT:
        texts = {split: set(f.loc[f["lang"] == lang, "text"]) for split, f in masakhanews_frames.items()}
        assert not texts["train"] & texts["validation"] and not texts["train"] & texts["test"], lang


def test_masakhanews_label_subsets(masakhanews_frames):
    spec = get_task("masakhanews")
    names = spec.label_names
    seen = collections.defaultdict(set)
    for frame in masakhanews_frames.values():
        for lang, labels in frame.groupby("lang")["label"]:
            seen[lang] |= {names[i] for i in labels}
    for lang in spec.languages:
        assert spec.labels_for(lang) == masakhanews_file_labels(lang), lang
        assert seen[lang] == set(spec.labels_for(lang)), lang
    assert set().union(*seen.values()) == set(names)


def test_masakhanews_text_is_headline_and_article_start(masakhanews_frames):
    lengths = masakhanews_frames["test"]["text"].str.len()
    assert max(lengths) < 1000 and np.mean(lengths) > 200


# ---------------------------------------------------------------- SIB-200 and NC
def test_sib200_row_counts_and_parallel_labels(sib200):
    counts = counts_by_lang(sib200)
    assert len(counts) == 27
    for lang, c in counts.items():
        assert c == {"train": 701, "validation": 99, "test": 204}, lang
    frame = sib200["train"].to_pandas()
    assert len({tuple(p["label"]) for _, p in frame.groupby("lang")}) == 1


def test_nc_standin_is_sib200_relabelled(sib200):
    standin = load_task("nc_standin")
    assert counts_by_lang(standin) == {lang: {"train": 701, "validation": 99, "test": 204}
                                       for lang in ("en", "de", "es", "fr", "ru")}
    assert "STAND-IN" in standin["train"].info.description
    sib, nc = sib200["train"].to_pandas(), standin["train"].to_pandas()
    assert list(nc.loc[nc["lang"] == "en", "text"]) == list(sib.loc[sib["lang"] == "eng_Latn", "text"])


def test_xglue_nc_de_sample():
    dd = load_task("xglue_nc_de_sample")
    assert len(dd["train"]) == 0 and len(dd["validation"]) == 0 and len(dd["test"]) == 1000
    names = dd["test"].features["label"].names
    assert dd["train"].features == dd["test"].features
    assert collections.Counter(names[i] for i in dd["test"]["label"]) == {
        "news": 294, "sports": 252, "entertainment": 212, "finance": 101, "lifestyle": 45, "autos": 38,
        "video": 25, "health": 18, "travel": 13, "foodanddrink": 2,
    }


def test_nc_is_hub_only():
    spec = get_task("nc")
    assert resolve_source(spec, "auto") == "hub"
    with pytest.raises(SourceUnavailableError, match="nc_standin"):
        load_task("nc", source="offline")
    assert resolve_source(get_task("xnli"), "auto") == "offline"


# ---------------------------------------------------------------- data card
class _CharTrigramTokenizer:
    """Stand-in tokenizer: one token per 3 characters of each word."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[0] * sum(-(-len(w) // 3) for w in t.split()) for t in texts]}


def test_data_card():
    card = data_card("masakhanews", tokenizer=_CharTrigramTokenizer(), languages=["amh", "hau", "yor"])
    assert list(card["lang"]) == ["amh", "hau", "yor"]
    assert list(card["script"]) == ["Ethiopic", "Latin", "Latin"]
    assert list(card["xlmr_pretraining"]) == [True, True, False]
    assert list(card["few_shot_train"]) == [True, True, False]
    assert list(card["test"]) == [376, 637, 411]
    assert list(card["num_labels"]) == [4, 7, 5]
    assert list(card["removed_rows"]) == [216 + 15, 389, 0]
    assert (card["tokens_per_word"] > 1).all()
    assert (card["tokens_per_char"] > 0).all()
    unspaced = data_card("xnli", tokenizer=_CharTrigramTokenizer(), languages=["zh", "th", "vi"])
    assert unspaced["tokens_per_word"].isna().tolist() == [True, True, False]  # per character only
    assert unspaced["tokens_per_char"].notna().all()
    plain = data_card("xnli", languages=["zh", "th"])
    assert "tokens_per_word" not in plain and "tokens_per_char" not in plain
    assert list(plain["script"]) == ["Han", "Thai"] and list(plain["train"]) == [2000, 2000]
    assert data_card("nc_standin").attrs["stand_in_for"] == "nc"


def test_token_ratios_count_words_and_non_space_characters():
    texts = ["abcdef gh", "ijk"]  # 3 words, 11 characters without spaces; 2 + 1 + 1 trigram tokens
    assert tokens_per_word(texts, _CharTrigramTokenizer()) == pytest.approx(4 / 3)
    assert tokens_per_character(texts, _CharTrigramTokenizer()) == pytest.approx(4 / 11)
    assert np.isnan(tokens_per_word(["", " "], _CharTrigramTokenizer()))
    assert np.isnan(tokens_per_character([" "], _CharTrigramTokenizer()))


@pytest.mark.parametrize(("code", "spaced"), [
    ("en", True), ("eng", True), ("vi", True), ("amh", True), ("eng_Latn", True), ("kik", True),
    ("zh", False), ("zho_Hans", False), ("th", False), ("tha", False),  # in the language table
    ("ja", False), ("jpn_Jpan", False), ("khm_Khmr", False), ("lo", False),  # outside it
])
def test_separates_words_by_script_or_code(code, spaced):
    assert separates_words(code) is spaced


def _card(rows):
    return pd.DataFrame(rows, columns=["lang", "language", "script", "xlmr_pretraining", "tokens_per_word",
                                       "tokens_per_char"])


def test_tokenization_table_keeps_one_row_per_language_across_task_codes():
    cards = {
        "xnli": _card([("en", "English", "Latin", True, 1.0, 0.2), ("zh", "Chinese", "Han", True, np.nan, 0.7),
                       ("sw", "Swahili", "Latin", True, 1.6, 0.3)]),
        "masakhanews": _card([("eng", "English", "Latin", True, 2.0, 0.4),
                              ("swa", "Swahili", "Latin", True, 1.8, 0.3),
                              ("yor", "Yoruba", "Latin", False, 2.4, 0.6)]),
        "mine": _card([("kik", "kik", "unknown", False, 3.0, 0.5)]),  # a folder task's own language
    }
    table = tokenization_table(cards)
    assert table["code"].tolist() == ["eng", "swa", "yor", "kik", "zho"]  # by tokens per word, unspaced last
    english = table.set_index("code").loc["eng"]
    assert english["language"] == "English" and english["tasks"] == "xnli, masakhanews"
    assert english["tokens_per_word"] == pytest.approx(1.5) and english["tokens_per_char"] == pytest.approx(0.3)
    assert table.set_index("code").loc["swa", "tokens_per_word"] == pytest.approx(1.7)
    assert table["separates_words"].tolist() == [True, True, True, True, False]
    assert table.set_index("code").loc["kik", "language"] == "kik"
    with pytest.raises(ValueError, match="tokenizer"):
        tokenization_table({"xnli": data_card("xnli", languages=["en"])})
    assert tokenization_table({}).empty
