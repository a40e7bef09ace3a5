"""The language table: one record per language, reachable from every code a task uses."""

import pytest

from fedlib.data.errors import UnknownLanguageError
from fedlib.data.languages import (
    LANGUAGES,
    XLMR_CC100_LANGUAGES,
    get_language,
    in_xlmr_pretraining,
    known_codes,
    language_name,
    script_of,
)
from fedlib.data.tasks import NC_STANDIN_FILE_CODES, SIB200_LANGUAGES, TASKS


def test_every_task_code_and_file_code_has_a_record():
    for spec in TASKS.values():
        for lang in spec.languages:
            assert get_language(lang) is get_language(spec.file_code(lang)), (spec.name, lang)


def test_the_three_codes_of_a_language_reach_the_same_record():
    assert get_language("en") is get_language("eng") is get_language("eng_Latn")
    assert get_language("sw") is get_language("swa") is get_language("swh_Latn")
    assert len({id(get_language(code)) for lang in LANGUAGES for code in lang.codes}) == len(LANGUAGES)


def test_the_flores_codes_are_the_shipped_sib200_languages():
    assert sorted(lang.flores for lang in LANGUAGES if lang.flores) == sorted(SIB200_LANGUAGES)
    assert NC_STANDIN_FILE_CODES == (("en", "eng_Latn"), ("de", "deu_Latn"), ("es", "spa_Latn"),
                                     ("fr", "fra_Latn"), ("ru", "rus_Cyrl"))


def test_a_language_has_cc100_sizes_exactly_when_xlmr_saw_it():
    for lang in LANGUAGES:
        assert lang.in_xlmr_pretraining == (lang.iso639_1 in XLMR_CC100_LANGUAGES), lang.name
        assert lang.cc100 is None or (lang.cc100[0] > 0 and lang.cc100[1] > 0), lang.name


def test_names_and_scripts_follow_the_code_a_task_writes():
    assert language_name("zh") == "Chinese" and language_name("zho_Hans") == "Chinese (Simplified)"
    assert language_name("orm") == "Oromo" and language_name("gaz_Latn") == "West Central Oromo"
    assert language_name("klingon") == "klingon"
    assert script_of("amh") == "Ethiopic" and script_of("xxx_Cyrl") == "Cyrillic" and script_of("xx") == "unknown"
    assert in_xlmr_pretraining("ja") and not in_xlmr_pretraining("yor_Latn") and not in_xlmr_pretraining("pcm")


def test_an_unknown_code_is_a_clear_error_before_any_work():
    with pytest.raises(UnknownLanguageError, match="'xx'.*known codes"):
        get_language("xx")
    with pytest.raises(UnknownLanguageError, match="klingon"):
        known_codes(["en", "klingon"])
    with pytest.raises(UnknownLanguageError, match="no language"):
        known_codes([])
    assert known_codes(["en", "de", "en"]) == ["en", "de"] and known_codes("en") == ["en"]
