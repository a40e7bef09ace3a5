"""The same apps on Flower's simulation runtime (Ray) give the in-process engine's aggregates."""

from __future__ import annotations

from fedtest import assert_same_run

from fedlib.experiment import ExperimentConfig
from fedlib.federated import run_federated


def test_inprocess_and_simulation_give_identical_aggregates():
    base = dict(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke", rounds=2,
                num_threads=1, seed=7)
    assert_same_run(run_federated(ExperimentConfig(engine="inprocess", **base)),
                    run_federated(ExperimentConfig(engine="simulation", **base)))
