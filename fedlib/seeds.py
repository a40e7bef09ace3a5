"""Seeds derived from a run's seed, so results do not depend on the order in which clients run."""

from __future__ import annotations


def client_seed(seed: int, client_index: int, server_round: int = 0) -> int:
    """The training seed of one client in one round (monolingual training is round 0 throughout)."""
    return seed * 1_000_003 + server_round * 1_009 + client_index
