"""The same apps on Flower's simulation runtime (Ray) give the in-process engine's aggregates."""

from __future__ import annotations

import numpy as np

from fedlib.experiment import ExperimentConfig
from fedlib.federated import run_federated


def test_inprocess_and_simulation_give_identical_aggregates():
    base = dict(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke", rounds=2,
                num_threads=1, seed=7)
    inprocess = run_federated(ExperimentConfig(engine="inprocess", **base))
    simulated = run_federated(ExperimentConfig(engine="simulation", **base))
    a, b = inprocess["_final_arrays"], simulated["_final_arrays"]
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert inprocess["best"]["per_language"] == simulated["best"]["per_language"]
