"""Language distances, a pre-training resource proxy, and their link to the federated gain.

The paper analyses its results with "a notion of language distance" whose formula it does not
publish. This package builds three transparent families of distances between the client languages
of a task, plus the resource proxy the paper's argument also leans on:

* **Typological** (:mod:`~fedlib.distance.uriel`): URIEL's syntactic, phonological, inventory,
  featural, genetic and geographic distances, never imputed.
* **Model-based** (:mod:`~fedlib.distance.model`, sentences from :mod:`~fedlib.distance.parallel`):
  how far apart the backbone represents translations of the same sentences.
* **Resource proxy** (:mod:`~fedlib.distance.resources`): each language's share of CC-100, XLM-R's
  pre-training corpus (Conneau et al. 2020, Table 6), 0 GiB for languages it lacks.

Every matrix is a square :class:`pandas.DataFrame` indexed by the task's own language codes
(:mod:`~fedlib.distance.matrix`). :mod:`~fedlib.distance.table` puts one task's distances to
English, the resource proxy and the federated gain side by side and rank-correlates them
(:mod:`~fedlib.distance.stats`); :mod:`~fedlib.distance.study` is the book's whole analysis and
:mod:`~fedlib.distance.plots` its figures.
"""

from fedlib.distance.errors import DistanceError, MissingFeaturesError, MissingParallelDataError
from fedlib.distance.matrix import (
                                    DISTANCE_KINDS,
                                    MODEL_KINDS,
                                    URIEL_KINDS,
                                    agreement_extremes,
                                    closest_pair,
                                    distance_to,
                                    matrix_agreement,
                                    mean_distance_to_others,
)
from fedlib.distance.model import linear_cka, model_matrix, model_options, sentence_embeddings
from fedlib.distance.parallel import PARALLEL_SOURCES, parallel_sentences
from fedlib.distance.plots import plot_agreement, plot_gain_scatter, plot_matrices, plot_resources
from fedlib.distance.resources import cc100_table
from fedlib.distance.stats import (
                                    FEW_LANGUAGES,
                                    MIN_LANGUAGES,
                                    Correlation,
                                    bootstrap_spearman,
                                    permutation_pvalue,
                                    spearman,
)
from fedlib.distance.study import (
                                    SHOWN_KINDS,
                                    DistanceStudy,
                                    candidate_name,
                                    correlation_summary,
                                    distance_numbers,
                                    distinct_languages,
                                    language_study,
                                    resource_confound,
                                    shown_correlations,
)
from fedlib.distance.table import (
                                    correlation_table,
                                    distance_matrix,
                                    english_code,
                                    federated_gain,
                                    language_table,
                                    predictor_columns,
                                    reference_language,
)
from fedlib.distance.uriel import (
                                    uriel_code,
                                    uriel_code_notes,
                                    uriel_coverage,
                                    uriel_distance,
                                    uriel_matrix,
                                    uriel_shared_features,
)

__all__ = [
    "DISTANCE_KINDS", "FEW_LANGUAGES", "MIN_LANGUAGES", "MODEL_KINDS", "PARALLEL_SOURCES", "SHOWN_KINDS",
    "URIEL_KINDS", "Correlation", "DistanceError", "DistanceStudy", "MissingFeaturesError",
    "MissingParallelDataError", "agreement_extremes", "bootstrap_spearman", "candidate_name", "cc100_table",
    "closest_pair",
    "correlation_summary", "correlation_table", "distance_matrix", "distance_numbers", "distance_to",
    "distinct_languages", "english_code", "federated_gain", "language_study", "language_table", "linear_cka",
    "matrix_agreement", "mean_distance_to_others", "model_matrix", "model_options", "parallel_sentences",
    "permutation_pvalue", "plot_agreement", "plot_gain_scatter", "plot_matrices", "plot_resources",
    "predictor_columns", "reference_language", "resource_confound", "sentence_embeddings", "shown_correlations",
    "spearman",
    "uriel_code", "uriel_code_notes", "uriel_coverage", "uriel_distance", "uriel_matrix", "uriel_shared_features",
]
