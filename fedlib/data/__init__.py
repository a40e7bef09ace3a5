"""Datasets of the book: loading, partitioning into clients, and describing them.

>>> from fedlib.data import load_task, partition_by_language
>>> dd = load_task("masakhanews", ["hau", "yor"])          # offline, checksum-verified
>>> clients = partition_by_language(dd["train"])            # {"hau": Dataset, "yor": Dataset}

Tasks (:data:`TASKS`): ``xnli``, ``masakhanews``, ``sib200``, ``nc`` (Hub only),
``nc_standin`` (SIB-200 in the NC languages, offline stand-in for ``nc``) and
``xglue_nc_de_sample`` (1,000 real German XGLUE NC rows). See ``data/README.md`` for
sources, licences and row counts.

Your own languages: a folder with one sub-folder per language is a task too
(:mod:`fedlib.data.folder`): ``load_task(folder=DIR, label_column="category")``, or its name
``folder_task_name(DIR, ...)`` wherever a task name goes; ``write_folder`` writes shipped
languages in that layout.
"""

from fedlib.data.card import (
    UNSPACED_SCRIPTS,
    data_card,
    label_distribution,
    separates_words,
    tokenization_table,
    tokens_per_character,
    tokens_per_word,
)
from fedlib.data.checksums import verify_all, verify_file
from fedlib.data.errors import (
    BudgetError,
    ChecksumMismatchError,
    DataError,
    DataFileMissingError,
    DuplicateRowError,
    EmptyPartitionError,
    LabelError,
    MalformedRowError,
    SourceUnavailableError,
    UnknownLanguageError,
    UnknownTaskError,
)
from fedlib.data.export import write_folder
from fedlib.data.folder import (
    canonical_task_name,
    data_fingerprint,
    folder_record,
    folder_task_name,
    is_folder_task,
    task_file_name,
)
from fedlib.data.languages import XLMR_CC100_LANGUAGES, in_xlmr_pretraining, language_name, script_of
from fedlib.data.loader import features_for, load_report, load_task, offline_available
from fedlib.data.partition import dirichlet_partition, iid_partition, partition_by_language, take_budget
from fedlib.data.readers import few_shot_union
from fedlib.data.splits import split_rows, xnli_split_rows
from fedlib.data.tasks import TASKS, SourceInfo, TaskSpec, few_shot_languages, get_task

__all__ = [
    "TASKS",
    "UNSPACED_SCRIPTS",
    "XLMR_CC100_LANGUAGES",
    "BudgetError",
    "ChecksumMismatchError",
    "DataError",
    "DataFileMissingError",
    "DuplicateRowError",
    "EmptyPartitionError",
    "LabelError",
    "MalformedRowError",
    "SourceInfo",
    "SourceUnavailableError",
    "TaskSpec",
    "UnknownLanguageError",
    "UnknownTaskError",
    "canonical_task_name",
    "data_card",
    "data_fingerprint",
    "label_distribution",
    "dirichlet_partition",
    "features_for",
    "few_shot_languages",
    "few_shot_union",
    "folder_record",
    "folder_task_name",
    "get_task",
    "iid_partition",
    "in_xlmr_pretraining",
    "is_folder_task",
    "language_name",
    "load_report",
    "load_task",
    "offline_available",
    "partition_by_language",
    "script_of",
    "separates_words",
    "split_rows",
    "take_budget",
    "task_file_name",
    "tokenization_table",
    "tokens_per_character",
    "tokens_per_word",
    "verify_all",
    "verify_file",
    "write_folder",
    "xnli_split_rows",
]
