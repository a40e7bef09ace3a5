"""What one client sends across the border in a training round, record by record.

Runs a short federated run on the in-process engine, keeps the first training reply, and lists every
array and metric in it with its size, as Flower counts bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedlib.config import Profile
from fedlib.experiment import ExperimentConfig


def captured_train_reply(config: ExperimentConfig):
    """The first training reply of a federated run of ``config`` (in-process engine)."""
    from fedlib.client_datasets import build_clients
    from fedlib.federated.client_app import build_client_app
    from fedlib.federated.engines import InProcessGrid, quiet_flower
    from fedlib.federated.runconfig import config_to_run_config
    from fedlib.federated.server_app import federate

    cfg = config.resolved()
    replies = []

    class CapturingGrid(InProcessGrid):
        def send_and_receive(self, messages, *, timeout=None):
            answered = list(super().send_and_receive(messages, timeout=timeout))
            replies.extend(r for r in answered if "arrays" in r.content.array_records)
            return answered

    grid = CapturingGrid(build_client_app(cfg), len(build_clients(cfg)), config_to_run_config(cfg))
    with quiet_flower():
        federate(grid, cfg)
    if not replies:
        raise RuntimeError("the run produced no training reply to inspect")
    return replies[0]


def payload_summary(task: str, profile: Profile, **overrides) -> pd.DataFrame:
    """One row per array and metric of a client's training reply: name, shape, dtype, size, bytes."""
    overrides.setdefault("paradigm", "federated")
    reply = captured_train_reply(ExperimentConfig(task=task, profile=profile.name, **overrides))
    rows = []
    for record_name, record in reply.content.array_records.items():
        for name, array in record.items():
            values = array.numpy()
            rows.append({"record": f"ArrayRecord '{record_name}'", "name": name, "shape": tuple(values.shape),
                         "dtype": str(values.dtype), "elements": int(values.size),
                         "bytes": int(len(array.data))})
    for record_name, record in reply.content.metric_records.items():
        for name, value in record.items():
            rows.append({"record": f"MetricRecord '{record_name}'", "name": name, "shape": (),
                         "dtype": type(value).__name__, "elements": int(np.size(value)),
                         "bytes": int(np.asarray(value).nbytes)})
    table = pd.DataFrame(rows)
    table.loc[len(table)] = {"record": "total", "name": "", "shape": "", "dtype": "",
                             "elements": int(table["elements"].sum()), "bytes": int(table["bytes"].sum())}
    return table
