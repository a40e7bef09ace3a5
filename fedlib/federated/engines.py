"""Three engines, one pair of apps.

* ``inprocess``  -- a :class:`flwr.serverapp.Grid` that hands each message straight to the ClientApp in
  this process, one client after another. No Ray, no sockets; every virtual client shares the one
  frozen backbone. The default for notebooks and tests.
* ``simulation`` -- Flower's simulation runtime (Ray actors), the same apps.
* ``deployment`` -- a SuperLink and one SuperNode per client started as local processes, the same apps
  driven by ``flwr run`` (see :mod:`fedlib.federated.deployment`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp import Grid
from flwr.supercore.task_identity import TaskIdentity

from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.federated.checkpoint import refuse_pickles
from fedlib.federated.client_app import build_client_app
from fedlib.federated.deployment import run_deployment
from fedlib.federated.result_file import read_result, result_path
from fedlib.federated.runconfig import config_to_run_config
from fedlib.federated.server_app import build_server_app, federate

CLIENT_EXCEPTION = 1  # error code of a reply whose ClientApp raised


class InProcessGrid(Grid):
    """A Grid whose nodes are ClientApp calls in this process.

    Flower's own in-memory grid needs a SuperLink state and Ray-backed nodes; for sequential virtual
    clients that share one model, calling the ClientApp directly is all the transport needed.
    A ClientApp that raises produces an error reply, as a failing SuperNode would.
    """

    RUN_ID = 1

    def __init__(self, client_app: ClientApp, num_nodes: int, run_config: dict | None = None):
        # Flower stamps new messages with the process's task identity, which its runtimes set
        # when they start a ServerApp; here this process *is* the server.
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = self.RUN_ID
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        self.client_app = client_app
        self._run = None
        self._contexts = {
            node_id: Context(
                run_id=self.RUN_ID, node_id=node_id,
                node_config={"partition-id": node_id - 1, "num-partitions": num_nodes},
                state=RecordDict(), run_config=dict(run_config or {}),
            )
            for node_id in range(1, num_nodes + 1)
        }
        self._replies: dict[str, Message] = {}

    def set_run(self, run) -> None:
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message.metadata.__dict__["_message_id"] = uuid4().hex  # as Flower's grids do
            context = self._contexts[message.metadata.dst_node_id]
            try:
                reply = self.client_app(message, context)
            except Exception as err:  # a failing client must not take the federation down
                reason = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
                reply = Message(Error(code=CLIENT_EXCEPTION, reason=reason), reply_to=message)
            self._replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


@contextlib.contextmanager
def quiet_flower(level: int = logging.WARNING):
    """Silence Flower's per-round INFO lines (the round progress bar says the same)."""
    logger = logging.getLogger("flwr")
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _run_inprocess(cfg: ExperimentConfig, num_clients: int, progress, checkpoint_dir) -> dict:
    grid = InProcessGrid(build_client_app(cfg), num_clients, config_to_run_config(cfg))
    with quiet_flower():
        return federate(grid, cfg, progress=progress, checkpoint_dir=checkpoint_dir)


def _run_simulation(cfg: ExperimentConfig, num_clients: int, checkpoint_dir) -> dict:
    from flwr.simulation import run_simulation

    # Ray hides GPUs from actors that reserve none: a CUDA run gives each client actor the whole GPU
    # (clients then train one after another, as on the in-process engine).
    gpus = 1.0 if (cfg.device or "cpu").startswith("cuda") else 0.0
    with tempfile.TemporaryDirectory(prefix="fedlib-sim-") as tmp:
        result = result_path(tmp)
        run_simulation(
            server_app=build_server_app(cfg, result, checkpoint_dir), client_app=build_client_app(cfg),
            num_supernodes=num_clients,
            backend_config={"client_resources": {"num_cpus": 1, "num_gpus": gpus},
                            "init_args": {"logging_level": "ERROR", "log_to_driver": False}},
        )
        return read_result(result)


def run_federated(config: ExperimentConfig, *, progress=None, checkpoint_dir: str | Path | None = None) -> dict:
    """Run the federated rounds of ``config`` on its engine; returns the round history.

    ``checkpoint_dir``: write a checkpoint there after every round, and resume from the one found
    there (see :func:`fedlib.federated.server_app.federate`). ``progress`` is called in-process only.
    """
    cfg = config.resolved()
    num_clients = len(build_clients(cfg))
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir).resolve()  # the ServerApp may run in another folder
        refuse_pickles(checkpoint_dir)  # here, before any engine starts: a clear error, not a dead ServerApp
    started = time.perf_counter()
    if cfg.engine == "inprocess":
        history = _run_inprocess(cfg, num_clients, progress, checkpoint_dir)
    elif cfg.engine == "simulation":
        history = _run_simulation(cfg, num_clients, checkpoint_dir)
    else:
        history = run_deployment(cfg, num_clients, checkpoint_dir=checkpoint_dir)
    history["engine_seconds"] = time.perf_counter() - started
    return history
