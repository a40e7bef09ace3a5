"""Task registry: what each task is, its languages, labels and sources.

Every task is described by a frozen :class:`TaskSpec` in :data:`TASKS`. The specs are pure
metadata; reading files happens in :mod:`fedlib.data.readers` (offline) and
:mod:`fedlib.data.hub` (online).

What is known about each language (name, script, codes, pre-training coverage) lives in
:mod:`fedlib.data.languages`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from fedlib.data.errors import SourceUnavailableError, UnknownLanguageError, UnknownTaskError
from fedlib.data.languages import get_language


@dataclasses.dataclass(frozen=True)
class SourceInfo:
    """Where a task's data comes from and under which terms."""

    name: str  # human-readable dataset name and citation
    url: str  # upstream repository or dataset page
    licence: str
    offline_dir: str | None  # folder under data/ holding the shipped copy (None: not shipped)
    commit: str | None = None  # upstream commit of the shipped copy
    hub_id: str | None = None  # Hugging Face dataset id used by source="hub"
    hub_config: str | None = None  # "{lang}" is replaced by the language's hub config


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One classification task: a set of languages (= clients) sharing one label set.

    ``label_names`` is the task-wide label set, identical (same order, same ids) for every
    language. Some MasakhaNEWS languages use only a subset: see :meth:`labels_for`.
    """

    name: str
    languages: tuple[str, ...]
    label_names: tuple[str, ...]
    has_pair: bool
    description: str
    source: SourceInfo
    stand_in_for: str | None = None
    few_shot_languages: tuple[str, ...] = ()  # offline train = few-shot files only
    language_labels: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per-language subsets
    file_codes: tuple[tuple[str, str], ...] = ()  # lang -> code used in file names / hub configs
    # Languages the hub source offers beyond the shipped ``languages`` (read with source "hub", or
    # "auto"): the upstream codes where their list is known, else the shape every upstream code has
    # ("x" a lower-case, "X" an upper-case letter, anything else itself; e.g. "xxx_Xxxx").
    hub_languages: tuple[str, ...] = ()
    hub_code_shape: str | None = None

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def is_shipped(self, lang: str) -> bool:
        """Whether ``lang`` is one of the languages shipped in ``data/`` (:attr:`languages`)."""
        return lang in self.languages

    def on_hub(self, lang: str) -> bool:
        """Whether the task's hub source offers ``lang`` (every shipped language, plus the hub's own)."""
        if self.source.hub_id is None:
            return False
        shape = self.hub_code_shape
        return (lang in self.languages or lang in self.hub_languages
                or (shape is not None and isinstance(lang, str) and _has_shape(lang, shape)))

    def accepts(self, lang: str) -> bool:
        """Whether ``lang`` is a language of this task: shipped, or offered by its hub source."""
        return self.is_shipped(lang) or self.on_hub(lang)

    def valid_languages(self) -> str:
        """The languages this task accepts, in words (for error messages)."""
        more = [", ".join(self.hub_languages)] if self.hub_languages else []
        if self.hub_code_shape:
            more.append(f"any code of the form {self.hub_code_shape} ({self.source.hub_id}'s configs)")
        shipped = ", ".join(self.languages)
        if self.source.hub_id is None or not more:
            return f"valid languages: {shipped}"
        return f"valid languages: {shipped} (shipped), and from the Hugging Face hub {'; '.join(more)}"

    def unshipped_error(self, langs: Iterable[str], why: str) -> SourceUnavailableError:
        """The error for languages that are not shipped and cannot come from the hub (``why``)."""
        langs = list(langs)
        return SourceUnavailableError(
            f"language(s) {', '.join(langs)} of task {self.name!r} are not shipped with fedlib and cannot "
            f"be read from the Hugging Face hub ({why}). The shipped languages of {self.name!r} are: "
            f"{', '.join(self.languages)}. To use other languages without the hub, bring them as a folder: "
            "python -m fedlib run --data DIR, with one sub-folder per language holding its train, dev "
            "and test files."
        )

    def labels_for(self, lang: str) -> tuple[str, ...]:
        """Labels occurring in language ``lang`` (task order); all labels unless the task says otherwise."""
        self.check_language(lang)
        return dict(self.language_labels).get(lang, self.label_names)

    def file_code(self, lang: str) -> str:
        """Code of ``lang`` in file names and Hub configs (e.g. ``en`` -> ``eng_Latn`` for nc_standin)."""
        self.check_language(lang)
        return dict(self.file_codes).get(lang, lang)

    def check_language(self, lang: str) -> None:
        """Raise :class:`UnknownLanguageError` unless :meth:`accepts` ``lang``."""
        if not self.accepts(lang):
            raise UnknownLanguageError(f"unknown language {lang!r} for task {self.name!r}; {self.valid_languages()}")

    def resolve_languages(self, languages: str | Iterable[str] | None) -> tuple[str, ...]:
        """Validate a language selection (None = all, in the task's order); duplicates are merged."""
        if languages is None:
            return self.languages
        if isinstance(languages, str):
            languages = [languages]
        chosen: list[str] = []
        for lang in languages:
            self.check_language(lang)
            if lang not in chosen:
                chosen.append(lang)
        if not chosen:
            raise UnknownLanguageError(f"no language selected for task {self.name!r}; {self.valid_languages()}")
        return tuple(chosen)


def _has_shape(code: str, shape: str) -> bool:
    """Whether ``code`` has ``shape``: "x" a lower-case ASCII letter, "X" an upper-case one, else itself."""
    lower, upper = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return len(code) == len(shape) and all(
        c in lower if s == "x" else c in upper if s == "X" else c == s for c, s in zip(code, shape, strict=True))


# --------------------------------------------------------------------------------------
# Label sets
# --------------------------------------------------------------------------------------
XNLI_LABELS = ("entailment", "neutral", "contradiction")  # order of the HF `xnli` ClassLabel
MASAKHANEWS_LABELS = (  # union over the 16 languages, sorted (order of the HF ClassLabel)
    "business", "entertainment", "health", "politics", "religion", "sports", "technology",
)
SIB200_LABELS = (  # order of data/sib200/*/labels.txt
    "science/technology", "travel", "politics", "sports", "health", "entertainment", "geography",
)
# XGLUE NC categories, most to least frequent in the XGLUE data (HF's `xglue` script
# stores the category as a plain string, so there is no upstream integer order to follow).
NC_LABELS = (
    "news", "sports", "entertainment", "finance", "lifestyle", "autos", "video", "health",
    "travel", "foodanddrink",
)

# Per-language label subsets of MasakhaNEWS (data/masakhanews/<lang>/labels.txt).
_B, _E, _H, _P, _R, _S, _T = MASAKHANEWS_LABELS
MASAKHANEWS_LANGUAGE_LABELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("amh", (_B, _H, _P, _S)),
    ("eng", (_B, _E, _H, _P, _S, _T)),
    ("fra", (_B, _H, _P, _S, _T)),
    ("hau", (_B, _E, _H, _P, _R, _S, _T)),
    ("ibo", (_B, _E, _H, _P, _R, _S)),
    ("lin", (_B, _H, _P, _S)),
    ("lug", (_B, _H, _P, _R, _S)),
    ("orm", (_E, _H, _P, _S, _T)),
    ("pcm", (_B, _E, _H, _P, _S)),
    ("run", (_B, _E, _H, _P, _R, _S)),
    ("sna", (_B, _H, _P, _S)),
    ("som", (_B, _E, _H, _P, _R, _S, _T)),
    ("swa", (_B, _E, _H, _P, _R, _S, _T)),
    ("tir", (_B, _E, _H, _P, _S, _T)),
    ("xho", (_B, _E, _H, _P, _S)),
    ("yor", (_E, _H, _P, _R, _S)),
)

# Upstream's languages, where the shipped copy has them all (no TaskSpec.hub_languages): facebook/xnli's
# 15 configs (besides "all_languages"), masakhane/masakhanews' 16, XGLUE NC's 5. SIB-200: see its spec.
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
MASAKHANEWS_LANGUAGES = tuple(lang for lang, _ in MASAKHANEWS_LANGUAGE_LABELS)
SIB200_LANGUAGES = (
    # NC languages
    "eng_Latn", "deu_Latn", "spa_Latn", "fra_Latn", "rus_Cyrl",
    # XNLI languages (en above)
    "arb_Arab", "bul_Cyrl", "ell_Grek", "hin_Deva", "swh_Latn", "tha_Thai", "tur_Latn",
    "urd_Arab", "vie_Latn", "zho_Hans",
    # MasakhaNEWS languages (FLORES has no Nigerian Pidgin; eng/fra above)
    "amh_Ethi", "hau_Latn", "ibo_Latn", "lin_Latn", "lug_Latn", "gaz_Latn", "run_Latn",
    "sna_Latn", "som_Latn", "tir_Ethi", "xho_Latn", "yor_Latn",
)
NC_LANGUAGES = ("en", "de", "es", "fr", "ru")
# The stand-in reads the SIB-200 files, which are named by FLORES-200 code.
NC_STANDIN_FILE_CODES = tuple((lang, get_language(lang).flores) for lang in NC_LANGUAGES)
MASAKHANEWS_FEW_SHOT_LANGUAGES = ("amh", "eng", "fra", "hau", "swa", "tir")

# Split protocol of tasks shipped without a train split (XNLI; XGLUE NC from the Hub).
XNLI_SPLIT_SEED = 2024
XNLI_TRAIN_ROWS = 2000  # of the 2,490 dev rows; the other 490 are validation
MAX_BODY_CHARS = 500  # news tasks: headline + the first 500 characters of the article

_SIB_SOURCE = SourceInfo(
    name="SIB-200 (Adelani et al., 2024), topic classification of FLORES-200 sentences",
    url="https://github.com/dadelani/sib-200",
    licence="CC BY-SA 4.0 (sentences from FLORES-200); the repository's Apache-2.0 covers its code",
    offline_dir="sib200",
    commit="593cea88519930f776c1a4a1980b6a35b39dca57",
    hub_id="Davlan/sib200",
    hub_config="{lang}",
)

TASKS: dict[str, TaskSpec] = {
    "xnli": TaskSpec(
        name="xnli",
        languages=XNLI_LANGUAGES,
        label_names=XNLI_LABELS,
        has_pair=True,
        description=(
            "XNLI natural language inference (premise, hypothesis) in 15 languages. No "
            "train split is shipped: the 2,490 dev rows are split by row index (seed "
            f"{XNLI_SPLIT_SEED}) into {XNLI_TRAIN_ROWS} client-train / "
            f"{2490 - XNLI_TRAIN_ROWS} validation rows, identically in every language; "
            "the 5,010 test rows are the test split."
        ),
        source=SourceInfo(
            name="XNLI 1.0 (Conneau et al., 2018), XTREME per-language files",
            url="https://github.com/GautamGupta17/MESH (data/xnli)",
            licence="CC BY-NC 4.0",
            offline_dir="xnli",
            commit="68f82e29e71a4e425069ff398a61387c24c0f30d",
            hub_id="facebook/xnli",
            hub_config="{lang}",
        ),
    ),
    "masakhanews": TaskSpec(
        name="masakhanews",
        languages=MASAKHANEWS_LANGUAGES,
        label_names=MASAKHANEWS_LABELS,
        has_pair=False,
        description=(
            "MasakhaNEWS news topic classification in 16 African languages (headline + "
            f"first {MAX_BODY_CHARS} characters of the article). Offline, amh eng fra hau "
            "swa tir have no full train file: their train split is the union of the "
            "official few-shot samples (de-duplicated, dev/test headlines removed)."
        ),
        source=SourceInfo(
            name="MasakhaNEWS (Adelani et al., 2023)",
            url="https://github.com/masakhane-io/masakhane-news",
            licence="AFL-3.0 per the Hugging Face card; read as non-commercial research use",
            offline_dir="masakhanews",
            commit=("819be052e79e0a600e0ed4a7356594681cb5c4f3 "
                    "(few_shot_pet: PET branch 032f0b7c28665c0fbcd4acfac37bbb25fa425c3a)"),
            hub_id="masakhane/masakhanews",
            hub_config="{lang}",
        ),
        few_shot_languages=MASAKHANEWS_FEW_SHOT_LANGUAGES,
        language_labels=MASAKHANEWS_LANGUAGE_LABELS,
    ),
    "sib200": TaskSpec(
        name="sib200",
        languages=SIB200_LANGUAGES,
        label_names=SIB200_LABELS,
        has_pair=False,
        description=(
            "SIB-200 topic classification (7 topics), sentence-parallel across 27 shipped languages; "
            "the other languages of its 205 come from the Hugging Face hub."
        ),
        source=_SIB_SOURCE,
        # Upstream has 205 language configs, named by FLORES-200 code (ISO 639-3 + "_" + ISO 15924
        # script, e.g. kin_Latn, zul_Latn). No list of those 205 ships with the installed packages
        # (transformers' NLLB tokenizer lists 202 FLORES-200 codes, not SIB-200's set), so any code
        # of that shape is accepted and the hub decides whether it exists.
        hub_code_shape="xxx_Xxxx",
    ),
    "nc": TaskSpec(
        name="nc",
        languages=NC_LANGUAGES,
        label_names=NC_LABELS,
        has_pair=False,
        description=(
            "XGLUE News Classification (10 categories; title + first "
            f"{MAX_BODY_CHARS} characters of the body). Only from the Hugging Face Hub: "
            "XGLUE's train split is English-only, so every language's validation set is "
            "split by row index into client-train / validation (4:1, seed "
            f"{XNLI_SPLIT_SEED}) and the test set is the test split. Offline, use "
            "'nc_standin' (SIB-200 topics in the same 5 languages)."
        ),
        source=SourceInfo(
            name="XGLUE NC (Liang et al., 2020)",
            url="https://microsoft.github.io/XGLUE/",
            licence="XGLUE terms of use (accepted on the XGLUE site; research only)",
            offline_dir=None,
            hub_id="microsoft/xglue",
            hub_config="nc",
        ),
    ),
    "nc_standin": TaskSpec(
        name="nc_standin",
        languages=NC_LANGUAGES,
        label_names=SIB200_LABELS,
        has_pair=False,
        description=(
            "STAND-IN for XGLUE NC (not XGLUE data): SIB-200 topic classification in the "
            "five NC languages (eng_Latn deu_Latn spa_Latn fra_Latn rus_Cyrl shown as "
            "en de es fr ru), 7 topics instead of NC's 10 news categories."
        ),
        source=_SIB_SOURCE,
        stand_in_for="nc",
        file_codes=NC_STANDIN_FILE_CODES,
    ),
    "xglue_nc_de_sample": TaskSpec(
        name="xglue_nc_de_sample",
        languages=("de",),
        label_names=NC_LABELS,
        has_pair=False,
        description=(
            "Real XGLUE NC data, German only: the 1,000-row dev file (SuperGLEBer copy), "
            "all rows in the 'test' split (train/validation are empty). A check of NC "
            "behaviour, not a federated benchmark."
        ),
        source=SourceInfo(
            name="XGLUE NC German dev (via SuperGLEBer, Pfister & Hotho, 2024)",
            url="https://github.com/LSX-UniWue/SuperGLEBer (data/XGlue/News_Class/dev.txt)",
            licence="XGLUE terms of use (research only; not verified)",
            offline_dir="xglue_nc",
            commit="5d3c59a91ab3b5011a45a28cfafe813cf657111d",
        ),
    ),
}


# Tasks built from their name rather than listed above, by the prefix of the name. fedlib.data.folder
# registers "folder:" when the package loads (it imports this module, so this one cannot import it).
_TASK_BUILDERS: dict[str, Callable[[str], TaskSpec]] = {}


def register_task_builder(prefix: str, build: Callable[[str], TaskSpec]) -> None:
    """Let :func:`get_task` answer every name starting with ``prefix`` with ``build(name)``."""
    _TASK_BUILDERS[prefix] = build


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name``; :class:`UnknownTaskError` lists the valid names."""
    for prefix, build in _TASK_BUILDERS.items():
        if isinstance(name, str) and name.startswith(prefix):
            return build(name)
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}, or a folder of your "
                               "own languages (fedlib.data.folder_task_name)") from None


def few_shot_languages(task: str, source: str = "offline") -> tuple[str, ...]:
    """Languages whose train split is only the few-shot samples (offline MasakhaNEWS), else ``()``."""
    spec = get_task(task)
    return spec.few_shot_languages if source == "offline" else ()
