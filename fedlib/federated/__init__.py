"""Federated prompt tuning on Flower's Message API: apps, strategies, and three engines.

The engines' names are :data:`fedlib.experiment.ENGINES`. Imports are lazy: ``flwr run`` imports this
package to find the apps, and torch need not load twice.
"""


def run_federated(config, **kwargs):
    """See :func:`fedlib.federated.engines.run_federated`."""
    from fedlib.federated.engines import run_federated as run

    return run(config, **kwargs)


__all__ = ["run_federated"]
