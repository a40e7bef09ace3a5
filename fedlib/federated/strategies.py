"""Flower strategies for the paper's comparison: FedAvg (default), FedProx and FedAdam.

Every client takes part in every round, as in the paper: the minimum node counts equal the number
of clients, so a round waits for all of them.
"""

from __future__ import annotations

from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx, Strategy

from fedlib.experiment import ExperimentConfig


def make_strategy(cfg: ExperimentConfig, num_clients: int) -> Strategy:
    everyone = dict(
        fraction_train=1.0, fraction_evaluate=1.0, min_train_nodes=num_clients,
        min_evaluate_nodes=num_clients, min_available_nodes=num_clients,
    )
    if cfg.strategy == "fedavg":
        return FedAvg(**everyone)
    if cfg.strategy == "fedprox":
        return FedProx(proximal_mu=cfg.proximal_mu, **everyone)
    if cfg.strategy == "fedadam":
        return FedAdam(eta=cfg.server_lr, **everyone)
    raise ValueError(f"unknown strategy {cfg.strategy!r}")
