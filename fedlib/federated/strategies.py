"""Flower strategies for the paper's comparison: FedAvg (default), FedProx and FedAdam, optionally
wrapped for differential privacy.

Every client takes part in every round, as in the paper: the minimum node counts equal the number
of clients, so a round waits for all of them.

Differential privacy (``dp_clipping_norm``, ``dp_noise_multiplier``) is central DP with client-side
fixed clipping, from Flower's Message-API building blocks: the ClientApp's ``fixedclipping_mod``
clips each client's update (its parameters minus the global ones) to L2 norm ``C`` before it is sent;
the server wraps the strategy in ``DifferentialPrivacyClientSideFixedClipping``, which tells clients
``C`` and adds Gaussian noise with standard deviation ``noise_multiplier * C / num_clients`` to the
aggregate. The only change to Flower's wrapper is where the noise comes from: Flower draws it from
NumPy's global generator; :class:`SeededClientSideFixedClipping` seeds that generator from
(run seed, round) for the call and restores it afterwards, so a run with noise is reproducible and
resumable. (The textbook guarantee assumes uniform client weights; FedAvg weights clients by their
number of examples, which with equal per-client budgets -- the paper's set-up -- is uniform; the
privacy budget ε of a run, and the conditions it is checked under, are in :mod:`fedlib.privacy`.)
"""

from __future__ import annotations

import contextlib

import numpy as np
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAdam, FedAvg, FedProx, Strategy

from fedlib.experiment import ExperimentConfig


def noise_seed(seed: int, server_round: int) -> int:
    """The seed of round ``server_round``'s DP noise (distinct from the clients' round seeds)."""
    return (seed * 1_000_033 + server_round * 7_919 + 0x5EED) % 2**32


@contextlib.contextmanager
def seeded_numpy(seed: int):
    """Seed NumPy's global generator for the block, then put its previous state back."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class SeededClientSideFixedClipping(DifferentialPrivacyClientSideFixedClipping):
    """Flower's client-side fixed-clipping DP wrapper with the noise seeded per (run seed, round)."""

    def __init__(self, strategy: Strategy, noise_multiplier: float, clipping_norm: float,
                 num_sampled_clients: int, *, seed: int) -> None:
        super().__init__(strategy, noise_multiplier, clipping_norm, num_sampled_clients)
        self.seed = seed

    def aggregate_train(self, server_round, replies):
        with seeded_numpy(noise_seed(self.seed, server_round)):
            return super().aggregate_train(server_round, replies)


def make_strategy(cfg: ExperimentConfig, num_clients: int) -> Strategy:
    everyone = dict(
        fraction_train=1.0, fraction_evaluate=1.0, min_train_nodes=num_clients,
        min_evaluate_nodes=num_clients, min_available_nodes=num_clients,
    )
    if cfg.strategy == "fedavg":
        strategy = FedAvg(**everyone)
    elif cfg.strategy == "fedprox":
        strategy = FedProx(proximal_mu=cfg.proximal_mu, **everyone)
    elif cfg.strategy == "fedadam":
        strategy = FedAdam(eta=cfg.server_lr, **everyone)
    else:
        raise ValueError(f"unknown strategy {cfg.strategy!r}")
    if cfg.dp_clipping_norm is not None:
        strategy = SeededClientSideFixedClipping(
            strategy, noise_multiplier=float(cfg.dp_noise_multiplier), clipping_norm=float(cfg.dp_clipping_norm),
            num_sampled_clients=num_clients, seed=cfg.seed,
        )
    return strategy
