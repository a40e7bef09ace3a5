"""The ServerApp and the round loop it runs.

The loop drives a Flower strategy through its own ``configure_train`` / ``aggregate_train`` /
``configure_evaluate`` / ``aggregate_evaluate`` steps instead of ``Strategy.start``: ``start`` keeps
only aggregated metrics, while the paper's tables need per-client (per-language) metrics, bytes per
message, early stopping on validation across rounds, and the test score of the best round.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.federated.checkpoint import (
    arrays_to_numpy,
    load_checkpoint,
    numpy_to_arrays,
    restore_rng_state,
    restore_strategy_state,
    rng_state,
    save_checkpoint,
    strategy_state,
)
from fedlib.federated.client_app import IDENTIFY
from fedlib.federated.records import arrays_to_state, payload_bytes, state_to_arrays
from fedlib.federated.result_file import BEST_ARRAYS, FINAL_ARRAYS, write_result
from fedlib.federated.runconfig import CHECKPOINT_KEY, RESULT_KEY, config_from_context
from fedlib.federated.strategies import make_strategy
from fedlib.model import get_bundle, model_spec, num_labels_of
from fedlib.predictions import encode_labels

log = logging.getLogger(__name__)
REPLY_TIMEOUT_S = 3600.0
NODE_WAIT_S = 300.0


def wait_for_nodes(grid: Grid, expected: int, timeout_s: float = NODE_WAIT_S) -> None:
    """Wait until ``expected`` nodes are connected; Flower's own sampling would wait forever."""
    deadline = time.monotonic() + timeout_s
    while (connected := len(list(grid.get_node_ids()))) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {connected} of {expected} clients connected within {timeout_s:.0f} s; every "
                "client (language shard) needs its own node"
            )
        time.sleep(0.5)


def _client_index(reply: Message) -> int:
    return int(reply.content["metrics"]["client-index"])


def _split_replies(replies) -> tuple[list[Message], list[Message]]:
    replies = list(replies)
    ok = sorted((r for r in replies if not r.has_error()), key=_client_index)  # fixed aggregation order
    failed = [r for r in replies if r.has_error()]
    return ok, failed


class ClientRegistry:
    """One run's clients: which node is which client, and what failed where.

    Node ids are the transport's, client indices are ours (``partition-id``); the registry maps one
    to the other (from the identify step) so that a failure names its client and language.
    """

    def __init__(self, cfg: ExperimentConfig, names: list[str], langs: list[str], history: dict):
        self.names, self.langs, self.history = names, langs, history
        self.minimum = cfg.min_successful_clients or 1
        self.node_client: dict[int, int] = {}  # node id -> client index, from the identify step

    def client_of(self, node_id: int) -> int | None:
        return self.node_client.get(node_id)

    def record_failures(self, server_round: int, stage: str, failed: list[Message]) -> list[dict]:
        records = []
        for reply in failed:
            index = self.client_of(reply.metadata.src_node_id)
            records.append({
                "round": server_round, "stage": stage, "node_id": reply.metadata.src_node_id,
                "client": None if index is None else self.names[index],
                "lang": None if index is None else self.langs[index],
                "reason": reply.error.reason,
            })
        self.history["failures"] += records
        return records

    def check(self, server_round: int, stage: str, ok: list, sent: int, failures: list[dict]) -> None:
        """Abort the run when fewer than ``min_successful_clients`` clients answered this stage."""
        if len(ok) >= self.minimum:
            return
        wanted = f"min_successful_clients={self.minimum}" if self.minimum > 1 else "at least one"
        lines = []
        for f in failures:
            who = f["client"] or f"node {f['node_id']}"
            reason = (f["reason"] or "").strip().splitlines() or ["no reason given"]
            lines.append(f"  - {who}: {reason[0]}")
        reasons = "\n".join(lines) or "  (no reply)"
        raise RuntimeError(
            f"round {server_round} ({stage}): only {len(ok)} of {sent} clients succeeded, fewer than "
            f"{wanted}; the run is aborted. Failures:\n{reasons}"
        )


def _identify(grid: Grid, registry: ClientRegistry, num_clients: int) -> None:
    """Ask every node which client it is, so that a failure can name its client (language)."""
    node_ids = sorted(grid.get_node_ids())
    if len(node_ids) > num_clients:
        raise ValueError(
            f"{len(node_ids)} nodes are connected but the experiment has only {num_clients} clients "
            f"{registry.names}; start one node per client"
        )
    messages = [Message(RecordDict(), dst_node_id=node_id, message_type=IDENTIFY) for node_id in node_ids]
    ok, failed = _split_replies(grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S))
    for reply in ok:
        index = _client_index(reply)
        other = next((n for n, i in registry.node_client.items() if i == index), None)
        if other is not None:
            raise ValueError(f"nodes {other} and {reply.metadata.src_node_id} both claim partition-id {index}; "
                             "every client needs its own partition-id")
        registry.node_client[reply.metadata.src_node_id] = index
    failures = registry.record_failures(0, "identify", failed)
    registry.check(0, "identify", ok, len(messages), failures)


def _evaluate(grid, strategy, server_round, arrays, split, registry: ClientRegistry) -> dict[str, dict]:
    """Ask every client to evaluate ``arrays`` on its ``split``; metrics per language."""
    messages = list(strategy.configure_evaluate(server_round, arrays, ConfigRecord({"split": split}), grid))
    ok, failed = _split_replies(grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S))
    failures = registry.record_failures(server_round, f"evaluate-{split}", failed)
    registry.check(server_round, f"evaluate-{split}", ok, len(messages), failures)
    per_language: dict[str, dict] = {}
    for reply in ok:
        metrics = reply.content["metrics"]
        entry = {k.replace("-", "_"): (encode_labels(v, separator=k.endswith("counts")) if isinstance(v, list)
                                       else float(v))
                 for k, v in metrics.items() if k != "client-index"}
        per_language.setdefault(registry.langs[_client_index(reply)], entry)  # a language's shards share its eval sets
    return per_language


def track_best_round(best: dict | None, stale: int, server_round: int, val_accuracy: float, patience: int,
                     **kept) -> tuple[dict, int, bool]:
    """Early stopping across rounds: ``(best, stale, stop)`` once ``server_round`` scored ``val_accuracy``.

    A better round becomes ``best`` (its round, its accuracy and ``kept``, e.g. its parameters); any
    other adds one to ``stale``, and ``stop`` is true once ``patience`` rounds in a row did not improve.
    """
    if best is None or val_accuracy > best["val_accuracy"]:
        return {"round": server_round, "val_accuracy": val_accuracy, **kept}, 0, False
    return best, stale + 1, stale + 1 >= patience


def federate(grid: Grid, config: ExperimentConfig, *, progress=None,
             checkpoint_dir: str | Path | None = None) -> dict:
    """Run the federated rounds of ``config`` on ``grid``; return the history as plain data.

    ``progress(record)`` is called after every round. ``checkpoint_dir``: after every round, save
    what the next round needs there (see :mod:`fedlib.federated.checkpoint`), and if a checkpoint
    is already there, resume after its round instead of starting afresh.
    A client that fails is recorded in ``history["failures"]`` (round, stage, client, language,
    reason) and the round goes on with the others, unless fewer than ``min_successful_clients``
    (default: one) succeed, which aborts the run with a ``RuntimeError``.
    """
    cfg = config.resolved()
    config_hash = cfg.config_hash()
    clients = build_clients(cfg)
    names = [c.name for c in clients]
    langs = [c.lang for c in clients]
    random.seed(cfg.seed)  # Flower samples nodes with the `random` module
    strategy = make_strategy(cfg, len(clients))
    wait_for_nodes(grid, len(clients))
    history: dict = {"rounds": [], "failures": [], "clients": names}
    registry = ClientRegistry(cfg, names, langs, history)
    _identify(grid, registry, len(clients))
    identify_failures = list(history["failures"])
    saved = load_checkpoint(checkpoint_dir, config_hash) if checkpoint_dir is not None else None
    if saved is None:
        arrays = state_to_arrays(get_bundle(model_spec(cfg, num_labels_of(cfg))).initial_state(cfg.seed))
        best: dict | None = None
        stale, first_round, done = 0, 1, False
    else:
        arrays = numpy_to_arrays(saved["arrays"])
        best = None if saved["best"] is None else {**saved["best"], "arrays": numpy_to_arrays(saved["best"]["arrays"])}
        stale, first_round, done = saved["stale"], saved["round"] + 1, saved["done"]
        history = registry.history = saved["history"]
        history["failures"] += identify_failures
        history.setdefault("resumed_after_rounds", []).append(saved["round"])
        restore_strategy_state(strategy, saved["strategy"])
        restore_rng_state(saved["rng"])
        log.info("resuming %s after round %d from %s", config_hash, saved["round"], checkpoint_dir)
    for server_round in range(first_round, cfg.rounds + 1):
        if done:
            break
        started, cpu_started = time.perf_counter(), time.process_time()
        messages = list(strategy.configure_train(server_round, arrays, ConfigRecord(), grid))
        sent = {m.metadata.dst_node_id: payload_bytes(m.content) for m in messages}
        ok, failed = _split_replies(grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S))
        failures = registry.record_failures(server_round, "train", failed)
        registry.check(server_round, "train", ok, len(messages), failures)
        new_arrays, _ = strategy.aggregate_train(server_round, ok)
        if new_arrays is None:
            raise RuntimeError(f"round {server_round}: the strategy {strategy!r} aggregated nothing")
        arrays = new_arrays
        clients_log = {}
        for reply in ok:
            i = _client_index(reply)
            m = reply.content["metrics"]
            clients_log[names[i]] = {
                "lang": langs[i], "num_examples": int(m["num-examples"]), "train_loss": float(m["train-loss"]),
                "seconds": float(m["seconds"]), "bytes_received": payload_bytes(reply.content),
                "bytes_sent": sent.get(reply.metadata.src_node_id, 0),
                **({"update_norm": float(m["update-norm"])} if "update-norm" in m else {}),
            }
        per_language = _evaluate(grid, strategy, server_round, arrays, "validation", registry)
        for name, lang in zip(names, langs, strict=True):  # a client that failed training is still evaluated
            if lang in per_language:
                validation = {k: v for k, v in per_language[lang].items() if k.startswith("val_")}
                clients_log.setdefault(name, {"lang": lang}).update(validation)
        val_accuracy = sum(e["val_accuracy"] for e in per_language.values()) / max(len(per_language), 1)
        # cpu_seconds: this process's CPU time in the round (all of it on the in-process engine, where the
        # clients train in this process); a resumed run adds the rounds it did not compute itself.
        record = {"round": server_round, "val_accuracy": val_accuracy, "clients": clients_log,
                  "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}
        history["rounds"].append(record)
        best, stale, done = track_best_round(best, stale, server_round, val_accuracy, cfg.patience, arrays=arrays)
        if done:
            log.info("early stop after round %d (best round %d)", server_round, best["round"])
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, {
                "config_hash": config_hash, "round": server_round, "done": done,
                "arrays": arrays_to_numpy(arrays), "stale": stale,
                "best": {**best, "arrays": arrays_to_numpy(best["arrays"])},
                "history": history, "strategy": strategy_state(strategy), "rng": rng_state(),
            })
        if progress is not None:
            progress(record)
    # Test once, with the parameters of the round that did best on validation.
    best_arrays = best.pop("arrays")
    best["per_language"] = _evaluate(grid, strategy, best["round"], best_arrays, "test", registry)
    history["best"] = best
    history["final_arrays_keys"] = sorted(arrays.keys())
    # Kept out of the history's JSON: for tests, the result file's arrays, and the trained model a
    # run keeps (fedlib.model_store): the best round's, whose test scores the run reports.
    history[FINAL_ARRAYS] = {k: np.asarray(v) for k, v in arrays_to_state(arrays).items()}
    history[BEST_ARRAYS] = {k: np.asarray(v) for k, v in arrays_to_state(best_arrays).items()}
    return history


def build_server_app(config: ExperimentConfig | None = None, result_path: str | Path | None = None,
                     checkpoint_dir: str | Path | None = None) -> ServerApp:
    """A ServerApp running :func:`federate`; the history goes to ``result_path`` as JSON.

    ``checkpoint_dir`` (or the run config's ``checkpoint-dir``): round checkpoints, see :func:`federate`.
    """
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = config or config_from_context(context)
        history = federate(grid, cfg, checkpoint_dir=checkpoint_dir or context.run_config.get(CHECKPOINT_KEY) or None)
        path = result_path or context.run_config.get(RESULT_KEY)
        if path:
            write_result(path, history)

    return app


app = build_server_app()
