"""The Hub path (source="hub") without a network: ``datasets.load_dataset`` is replaced by fakes
shaped like the real Hub datasets, so the conversion to the common schema is exercised."""

from __future__ import annotations

import datasets
import pytest

from fedlib.data import SourceUnavailableError, get_task, hub, load_task, xnli_split_rows


def _fake(builders: dict):
    def load(hub_id, config):
        try:
            return builders[(hub_id, config)]()
        except KeyError:
            raise ConnectionError(f"no network for {hub_id}/{config}") from None

    return load


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    for name in ("FEDLIB_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)  # the fakes below are the Hub
    load = hub._load  # a test may replace it
    load.cache_clear()
    yield
    load.cache_clear()


def _xnli():
    label = datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])
    feats = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                               "label": label})

    def split(n):
        return datasets.Dataset.from_dict(
            {"premise": [f"p{i}" for i in range(n)], "hypothesis": [f"h{i}" for i in range(n)],
             "label": [i % 3 for i in range(n)]}, features=feats)

    return datasets.DatasetDict({"train": split(6), "validation": split(2490), "test": split(5010)})


def _masakhanews():
    feats = datasets.Features({
        "label": datasets.ClassLabel(names=list(get_task("masakhanews").label_names)),
        "headline": datasets.Value("string"), "text": datasets.Value("string"),
        "headline_text": datasets.Value("string"), "url": datasets.Value("string")})

    def split(n):
        return datasets.Dataset.from_dict(
            {"label": [i % 7 for i in range(n)], "headline": [f"Head {i}" for i in range(n)],
             "text": ["word " * 300] * n, "headline_text": [""] * n, "url": [""] * n}, features=feats)

    return datasets.DatasetDict({"train": split(20), "validation": split(5), "test": split(8)})


def _sib():
    def split(n):
        return datasets.Dataset.from_dict({"index_id": list(range(n)), "category": ["travel", "sports"] * (n // 2),
                                           "text": [f"sentence {i}" for i in range(n)]})

    return datasets.DatasetDict({"train": split(10), "validation": split(4), "test": split(6)})


def _xglue():
    def split(n, category="news"):
        return datasets.Dataset.from_dict({"news_title": [f"T{i}" for i in range(n)],
                                           "news_body": ["body " * 10] * n, "news_category": [category] * n})

    out = {"train": split(5)}
    for lang in ("en", "de", "es", "fr", "ru"):
        out[f"validation.{lang}"] = split(100)
        out[f"test.{lang}"] = split(50, "sports")
    return datasets.DatasetDict(out)


def test_hub_xnli_uses_the_offline_split_protocol(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", _fake({("facebook/xnli", "de"): _xnli}))
    dd = load_task("xnli", "de", source="hub")
    assert [len(dd[s]) for s in ("train", "validation", "test")] == [2000, 490, 5010]
    assert dd["train"]["text"][:3] == [f"p{i}" for i in xnli_split_rows()["train"][:3]]
    assert "source 'hub'" in dd["test"].info.description


def test_hub_masakhanews_sib_and_nc(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", _fake({
        ("masakhane/masakhanews", "amh"): _masakhanews,
        ("Davlan/sib200", "deu_Latn"): _sib,
        ("microsoft/xglue", "nc"): _xglue,
    }))
    mn = load_task("masakhanews", "amh", source="hub")
    assert [len(mn[s]) for s in ("train", "validation", "test")] == [20, 5, 8]
    assert mn["train"]["text"][0].startswith("Head 0 word word") and len(mn["train"]["text"][0]) <= 7 + 500
    standin = load_task("nc_standin", "de", source="hub")
    assert standin["train"]["lang"] == ["de"] * 10
    nc = load_task("nc", ["en", "ru"], source="hub")
    assert [len(nc[s]) for s in ("train", "validation", "test")] == [160, 40, 100]
    names = nc["test"].features["label"].names
    assert {names[i] for i in nc["test"]["label"]} == {"sports"}


def test_hub_failure_is_explained(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", _fake({}))
    with pytest.raises(SourceUnavailableError, match=r"could not load 'microsoft/xglue'.*nc_standin"):
        load_task("nc", "en")  # auto -> hub for nc
    with pytest.raises(SourceUnavailableError, match="only available offline"):
        load_task("xglue_nc_de_sample", source="hub")


# ---------------------------------------------------------------------------------------------
# Languages the project does not ship, from the hub source


def _fake_sib_hub(monkeypatch) -> list:
    """Replace the one function that calls ``datasets.load_dataset``; return the (id, config) it was asked."""
    calls = []
    monkeypatch.setattr(hub, "_load", lambda hub_id, config: calls.append((hub_id, config)) or _sib())
    return calls


def test_an_unshipped_sib200_language_comes_from_the_hub(monkeypatch):
    calls = _fake_sib_hub(monkeypatch)
    spec = get_task("sib200")
    assert "kin_Latn" not in spec.languages and spec.accepts("kin_Latn") and spec.accepts("zul_Latn")
    dd = load_task("sib200", ["eng_Latn", "kin_Latn"])  # auto: eng_Latn shipped, kin_Latn from the hub
    assert calls == [("Davlan/sib200", "kin_Latn")]
    assert dd["train"]["lang"].count("kin_Latn") == 10 and "eng_Latn" in dd["train"]["lang"]
    assert "'hub' for kin_Latn" in dd["test"].info.description
    assert "'offline' for eng_Latn" in dd["test"].info.description
    load_task("sib200", "zul_Latn", source="hub")
    assert calls[-1] == ("Davlan/sib200", "zul_Latn")


def test_an_unshipped_language_passes_the_config_check_when_its_shape_is_right():
    from fedlib.experiment import ExperimentConfig

    ExperimentConfig(task="sib200", languages=("eng_Latn", "kin_Latn"), profile="smoke").resolved()
    for bad in ("kin_latn", "kinLatn", "xx_Fake"):
        with pytest.raises(ValueError, match=rf"\['{bad}'\] are not in task 'sib200'.*xxx_Xxxx"):
            ExperimentConfig(task="sib200", languages=(bad,), profile="smoke").resolved()
    # The tasks whose upstream languages are all shipped accept nothing more.
    for task, lang in (("xnli", "ja"), ("masakhanews", "kin"), ("nc_standin", "kin_Latn")):
        assert not get_task(task).accepts(lang)


@pytest.mark.parametrize("offline", ["FEDLIB_OFFLINE", "unreachable", "source"])
def test_offline_an_unshipped_language_names_the_shipped_ones_and_the_folder_route(offline, monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the hub was asked"))
    source = "auto"
    if offline == "FEDLIB_OFFLINE":
        monkeypatch.setenv("FEDLIB_OFFLINE", "1")
    elif offline == "unreachable":
        monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: False)
    else:
        source = "offline"
    with pytest.raises(SourceUnavailableError) as info:
        load_task("sib200", ["eng_Latn", "kin_Latn"], source=source)
    message = str(info.value)
    assert "kin_Latn" in message and "not shipped" in message and "--data DIR" in message
    assert all(lang in message for lang in get_task("sib200").languages)
