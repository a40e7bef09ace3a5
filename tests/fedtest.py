"""Helpers shared by the engine tests: a small smoke config and a grid that records its traffic."""

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


def run_recorded(cfg, client_cfg=None):
    """Federate ``cfg`` on a recording grid (clients built from ``client_cfg`` when given)."""
    grid = RecordingGrid(build_client_app(client_cfg or cfg), len(build_clients(cfg)), config_to_run_config(cfg))
    with quiet_flower():
        return grid, federate(grid, cfg)
