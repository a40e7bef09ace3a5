"""The languages of the tasks: one record per language, whichever code a task writes it with.

XNLI and the news stand-in use ISO 639-1 codes (``en``), MasakhaNEWS ISO 639-3 (``eng``) and SIB-200
FLORES-200 codes (``eng_Latn``); :func:`get_language` accepts all three. Each record carries what
the data card and the language-distance analysis need: the English name, the writing system, the
code URIEL stores the language under, the FLORES-200 code of the shipped SIB-200 copy, and the
language's share of CC-100, XLM-R's pre-training corpus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from fedlib.data.errors import UnknownLanguageError


@dataclasses.dataclass(frozen=True)
class Language:
    name: str  # English name
    iso639_3: str  # also URIEL's code for it (see uriel_note where a macrolanguage code was chosen)
    iso639_1: str | None  # None: Nigerian Pidgin has no ISO 639-1 code
    flores: str | None  # FLORES-200 code in the shipped SIB-200 copy; None: FLORES-200 lacks it
    script: str  # writing system as written in these datasets
    cc100: tuple[int, float] | None = None  # (tokens in millions, GiB); None: not in CC-100
    flores_name: str | None = None  # name of the FLORES-200 variety where it is not ``name``
    uriel_note: str = ""  # why this code and not another one URIEL also has

    @property
    def uriel_code(self) -> str:
        return self.iso639_3

    @property
    def in_xlmr_pretraining(self) -> bool:
        return self.cc100 is not None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(code for code in (self.iso639_1, self.iso639_3, self.flores) if code)


# CC-100 sizes: Conneau et al. (2020), "Unsupervised Cross-lingual Representation Learning at
# Scale", ACL, Appendix A, Table 6 (tokens in millions, GiB), cross-checked against the CSV
# transcription in github.com/mayhewsw/multilingual-data-stats (cc-100/cc-100.csv). Chinese is the
# "Chinese (Simplified)" row: the tasks' text is Simplified (Traditional adds 176 M tokens / 16.6 GiB).
# Where URIEL has both a macrolanguage and an individual language, the code with the most features
# wins (feature counts from urielplus 1.3.2's original URIEL data).
LANGUAGES: tuple[Language, ...] = (
    # The news-classification languages
    Language("English", "eng", "en", "eng_Latn", "Latin", (55608, 300.8)),
    Language("German", "deu", "de", "deu_Latn", "Latin", (10297, 66.6)),
    Language("Spanish", "spa", "es", "spa_Latn", "Latin", (9374, 53.3)),
    Language("French", "fra", "fr", "fra_Latn", "Latin", (9780, 56.8)),
    Language("Russian", "rus", "ru", "rus_Cyrl", "Cyrillic", (23408, 278.0)),
    # The other XNLI languages
    Language("Arabic", "ara", "ar", "arb_Arab", "Arabic", (2869, 28.0), uriel_note=(
        "macrolanguage 'ara' (98 syntactic, 28 phonological features); 'arb' (Standard Arabic, "
        "SIB-200's arb_Arab) has no phonology or inventory in URIEL")),
    Language("Bulgarian", "bul", "bg", "bul_Cyrl", "Cyrillic", (5487, 57.5)),
    Language("Greek", "ell", "el", "ell_Grek", "Greek", (4285, 46.9)),
    Language("Hindi", "hin", "hi", "hin_Deva", "Devanagari", (1715, 20.2)),
    Language("Swahili", "swa", "sw", "swh_Latn", "Latin", (275, 1.6),
             uriel_note="'swa' (macrolanguage, MasakhaNEWS's code); 'swh' has identical coverage"),
    Language("Thai", "tha", "th", "tha_Thai", "Thai", (1834, 71.7)),
    Language("Turkish", "tur", "tr", "tur_Latn", "Latin", (2736, 20.9)),
    Language("Urdu", "urd", "ur", "urd_Arab", "Arabic", (730, 5.7)),
    Language("Vietnamese", "vie", "vi", "vie_Latn", "Latin", (24757, 137.3)),
    Language("Chinese", "zho", "zh", "zho_Hans", "Han", (259, 46.9), flores_name="Chinese (Simplified)",
             uriel_note="macrolanguage 'zho' (102 syntactic features) rather than 'cmn' (94)"),
    # The other MasakhaNEWS languages
    Language("Amharic", "amh", "am", "amh_Ethi", "Ethiopic", (68, 0.8)),
    Language("Hausa", "hau", "ha", "hau_Latn", "Latin", (56, 0.3)),
    Language("Igbo", "ibo", "ig", "ibo_Latn", "Latin"),
    Language("Lingala", "lin", "ln", "lin_Latn", "Latin"),
    Language("Luganda", "lug", "lg", "lug_Latn", "Latin"),
    Language("Oromo", "orm", "om", "gaz_Latn", "Latin", (8, 0.1), flores_name="West Central Oromo",
             uriel_note="macrolanguage 'orm' (73 syntactic features); 'gaz' (SIB-200's gaz_Latn) has 13 "
                        "and no inventory"),
    Language("Nigerian Pidgin", "pcm", None, None, "Latin"),
    Language("Kirundi", "run", "rn", "run_Latn", "Latin"),
    Language("Shona", "sna", "sn", "sna_Latn", "Latin"),
    Language("Somali", "som", "so", "som_Latn", "Latin", (62, 0.4)),
    Language("Tigrinya", "tir", "ti", "tir_Ethi", "Ethiopic"),
    Language("Xhosa", "xho", "xh", "xho_Latn", "Latin", (13, 0.1)),
    Language("Yoruba", "yor", "yo", "yor_Latn", "Latin"),
)
_BY_CODE: dict[str, Language] = {code: language for language in LANGUAGES for code in language.codes}

# The 100 languages of CC-100 (Table 6 above; the same list is the `language` tags of the
# FacebookAI/xlm-roberta-base model card), for codes outside the table. ISO 639-1 codes; *_rom are
# romanised variants, my_zaw is Burmese in Zawgyi encoding.
XLMR_CC100_LANGUAGES: frozenset[str] = frozenset(
    """af am ar as az be bg bn bn_rom br bs ca cs cy da de el en eo es et eu fa fi fr fy ga
    gd gl gu ha he hi hi_rom hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk
    ml mn mr ms my my_zaw ne nl no om or pa pl ps pt ro ru sa sd si sk sl so sq sr su sv sw
    ta ta_rom te te_rom th tl tr ug uk ur ur_rom uz vi xh yi zh zh_Hant""".split()
)
_FLORES_SCRIPTS = {
    "Latn": "Latin", "Arab": "Arabic", "Cyrl": "Cyrillic", "Grek": "Greek",
    "Deva": "Devanagari", "Thai": "Thai", "Hans": "Han", "Ethi": "Ethiopic",
}


def get_language(code: str) -> Language:
    """The record of ``code`` (``en``, ``eng`` or ``eng_Latn``); :class:`UnknownLanguageError` if none."""
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise UnknownLanguageError(
            f"unknown language {code!r}: not a language of any task; known codes: {', '.join(sorted(_BY_CODE))}"
        ) from None


def known_codes(languages: str | Iterable[str]) -> list[str]:
    """The codes in order, duplicates merged, each checked before any work is done."""
    codes = list(dict.fromkeys([languages] if isinstance(languages, str) else languages))
    if not codes:
        raise UnknownLanguageError("no language given")
    for code in codes:
        get_language(code)
    return codes


def language_name(code: str) -> str:
    """English name of ``code`` (the FLORES-200 variety's for a FLORES code); ``code`` if unknown."""
    language = _BY_CODE.get(code)
    if language is None:
        return code
    return language.flores_name if code == language.flores and language.flores_name else language.name


def script_of(code: str) -> str:
    """Writing system of ``code`` ("Latin", "Ethiopic", ...); "unknown" when not tabulated."""
    if code in _BY_CODE:
        return _BY_CODE[code].script
    if "_" in code:  # a FLORES-200 code names its script
        return _FLORES_SCRIPTS.get(code.split("_", 1)[1], "unknown")
    return "unknown"


def in_xlmr_pretraining(code: str) -> bool:
    """Whether XLM-R's CC-100 pre-training corpus covers ``code`` (a task code or an ISO 639-1 code)."""
    if code in _BY_CODE:
        return _BY_CODE[code].in_xlmr_pretraining
    return len(code) == 2 and code in XLMR_CC100_LANGUAGES
