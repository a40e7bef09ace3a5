"""Helpers shared by the engine tests: a small smoke config and in-process grids (flaky or recording)."""

from __future__ import annotations

from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.federated.client_app import build_client_app
from fedlib.federated.engines import InProcessGrid, quiet_flower
from fedlib.federated.runconfig import config_to_run_config
from fedlib.federated.server_app import federate

LANGS = ("eng_Latn", "hau_Latn")


def smoke_config(**overrides) -> ExperimentConfig:
    values = dict(task="sib200", languages=LANGS, profile="smoke", rounds=1, num_threads=1)
    values.update(overrides)
    return ExperimentConfig(**values).resolved()


class RecordingGrid(InProcessGrid):
    """An in-process grid that keeps every message and reply it carried."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent, self.replies = [], []

    def send_and_receive(self, messages, *, timeout=None):
        messages = list(messages)
        self.sent += messages
        replies = list(super().send_and_receive(messages, timeout=timeout))
        self.replies += replies
        return replies


def make_grid(cfg, client_cfg=None, *, fail=None, grid_type=InProcessGrid) -> InProcessGrid:
    """An in-process grid for ``cfg`` (clients built from ``client_cfg`` when given).

    ``fail(message, partition_id)`` returning a reason makes that client call raise ``RuntimeError(reason)``.
    """
    grid = grid_type(build_client_app(client_cfg or cfg), len(build_clients(cfg)), config_to_run_config(cfg))
    if fail is not None:
        original = grid.client_app

        def flaky(message, context):
            reason = fail(message, int(context.node_config["partition-id"]))
            if reason:
                raise RuntimeError(reason)
            return original(message, context)

        grid.client_app = flaky
    return grid


def run(cfg, *, fail=None, **kwargs) -> dict:
    """Federate ``cfg`` in-process (see :func:`make_grid` for ``fail``); ``kwargs`` go to ``federate``."""
    with quiet_flower():
        return federate(make_grid(cfg, fail=fail), cfg, **kwargs)


def run_recorded(cfg, client_cfg=None):
    """Federate ``cfg`` on a recording grid (clients built from ``client_cfg`` when given)."""
    grid = make_grid(cfg, client_cfg, grid_type=RecordingGrid)
    with quiet_flower():
        return grid, federate(grid, cfg)


def assert_same_run(a: dict, b: dict) -> None:
    """Two federated histories agree bit for bit: final parameters and the best round's results."""
    import numpy as np

    assert set(a["_final_arrays"]) == set(b["_final_arrays"])
    for key, values in a["_final_arrays"].items():
        np.testing.assert_array_equal(values, b["_final_arrays"][key], err_msg=key)
    assert a["best"]["per_language"] == b["best"]["per_language"]
