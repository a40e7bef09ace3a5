"""The ServerApp and the round loop it runs.

The loop drives a Flower strategy through its own ``configure_train`` / ``aggregate_train`` /
``configure_evaluate`` / ``aggregate_evaluate`` steps instead of ``Strategy.start``: ``start`` keeps
only aggregated metrics, while the paper's tables need per-client (per-language) metrics, bytes per
message, early stopping on validation across rounds, and the test score of the best round.
"""

from __future__ import annotations

import json
import logging
import random
import time

import numpy as np
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message
from flwr.serverapp import Grid, ServerApp

from fedlib.clients import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.federated.client import model_spec, num_labels_of
from fedlib.federated.records import arrays_to_state, payload_bytes, state_to_arrays
from fedlib.federated.runconfig import config_from_context
from fedlib.federated.strategies import make_strategy
from fedlib.model import get_bundle

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


def _evaluate(grid, strategy, server_round, arrays, split, names, langs, history) -> dict[str, dict]:
    """Ask every client to evaluate ``arrays`` on its ``split``; metrics per language."""
    messages = list(strategy.configure_evaluate(server_round, arrays, ConfigRecord({"split": split}), grid))
    ok, failed = _split_replies(grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S))
    history["failures"] += [
        {"round": server_round, "node_id": r.metadata.src_node_id, "stage": f"evaluate-{split}",
         "reason": r.error.reason} for r in failed
    ]
    per_language: dict[str, dict] = {}
    for reply in ok:
        metrics = reply.content["metrics"]
        entry = {k.replace("-", "_"): float(v) for k, v in metrics.items() if k != "client-index"}
        per_language.setdefault(langs[_client_index(reply)], entry)  # a language's shards share its eval sets
    return per_language


def federate(grid: Grid, config: ExperimentConfig, *, progress=None) -> dict:
    """Run the federated rounds of ``config`` on ``grid``; return the history as plain data."""
    cfg = config.resolved()
    clients = build_clients(cfg)
    names = [c.name for c in clients]
    langs = [c.lang for c in clients]
    random.seed(cfg.seed)  # Flower samples nodes with the `random` module
    strategy = make_strategy(cfg, len(clients))
    arrays = state_to_arrays(get_bundle(model_spec(cfg, num_labels_of(cfg))).initial_state(cfg.seed))
    wait_for_nodes(grid, len(clients))
    history: dict = {"rounds": [], "failures": [], "clients": names}
    best: dict | None = None
    stale = 0
    for server_round in range(1, cfg.rounds + 1):
        started = time.perf_counter()
        messages = list(strategy.configure_train(server_round, arrays, ConfigRecord(), grid))
        sent = {m.metadata.dst_node_id: payload_bytes(m.content) for m in messages}
        ok, failed = _split_replies(grid.send_and_receive(messages, timeout=REPLY_TIMEOUT_S))
        history["failures"] += [
            {"round": server_round, "node_id": r.metadata.src_node_id, "stage": "train",
             "reason": r.error.reason} for r in failed
        ]
        if not ok:
            raise RuntimeError(f"round {server_round}: every client failed; see the failures above")
        new_arrays, _ = strategy.aggregate_train(server_round, ok)
        arrays = new_arrays
        clients_log = {}
        for reply in ok:
            i = _client_index(reply)
            m = reply.content["metrics"]
            clients_log[names[i]] = {
                "lang": langs[i], "num_examples": int(m["num-examples"]), "train_loss": float(m["train-loss"]),
                "seconds": float(m["seconds"]), "bytes_received": payload_bytes(reply.content),
                "bytes_sent": sent.get(reply.metadata.src_node_id, 0),
            }
        per_language = _evaluate(grid, strategy, server_round, arrays, "validation", names, langs, history)
        for name, lang in zip(names, langs):  # a client that failed training is still evaluated
            if lang in per_language:
                clients_log.setdefault(name, {"lang": lang}).update({k: v for k, v in per_language[lang].items() if k.startswith("val_")})
        val_accuracy = sum(e["val_accuracy"] for e in per_language.values()) / max(len(per_language), 1)
        record = {"round": server_round, "val_accuracy": val_accuracy, "clients": clients_log,
                  "seconds": time.perf_counter() - started}
        history["rounds"].append(record)
        if progress is not None:
            progress(record)
        if best is None or val_accuracy > best["val_accuracy"]:
            best = {"round": server_round, "val_accuracy": val_accuracy, "arrays": arrays}
            stale = 0
        else:
            stale += 1
            if stale >= cfg.patience:
                log.info("early stop after round %d (best round %d)", server_round, best["round"])
                break
    # Test once, with the parameters of the round that did best on validation.
    best["per_language"] = _evaluate(grid, strategy, best["round"], best.pop("arrays"), "test", names,
                                     langs, history)
    history["best"] = best
    history["final_arrays_keys"] = sorted(arrays.keys())
    # Dropped before JSON; kept for tests and the artifact's .npz.
    history["_final_arrays"] = {k: np.asarray(v) for k, v in arrays_to_state(arrays).items()}
    return history


def save_arrays(arrays: dict[str, np.ndarray], path: Path) -> None:
    np.savez(path, **arrays)


def build_server_app(config: ExperimentConfig | None = None, result_path: str | Path | None = None) -> ServerApp:
    """A ServerApp running :func:`federate`; the history goes to ``result_path`` as JSON."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = config or config_from_context(context)
        history = federate(grid, cfg)
        path = result_path or context.run_config.get("result-path")
        if path:
            save_arrays(history["_final_arrays"], Path(path).with_suffix(".npz"))
            history = {k: v for k, v in history.items() if not k.startswith("_")}
            Path(path).write_text(json.dumps(history))

    return app


app = build_server_app()
