"""The ClientApp: one client = one language (or one shard of it), training the shared prompt.

What a client sends back is its trainable parameters (prompt / LoRA / head, or everything for full
fine-tuning) and a few metrics: never backbone weights it did not train, never text or token ids.

With differential privacy on (``dp_clipping_norm``), Flower's ``fixedclipping_mod`` clips the update a
client sends (see :mod:`fedlib.federated.strategies`). Without DP, each train reply also reports the L2
norm of the client's update (``update-norm``), from which :func:`fedlib.privacy.clipping_norms` picks
clipping norms for DP runs. A DP run does not send it: the norm of the unclipped update would travel
beside the clipped one, outside what the noise and the privacy budget protect.
"""

from __future__ import annotations

import functools

import torch
from datasets import Dataset
from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from fedlib.client_datasets import build_clients
from fedlib.experiment import ExperimentConfig
from fedlib.federated.records import arrays_to_state, state_to_arrays
from fedlib.federated.runconfig import config_from_context
from fedlib.methods import load_trainable_state, trainable_state
from fedlib.model import get_bundle, model_spec, num_labels_of
from fedlib.predictions import test_outcomes
from fedlib.seeds import client_seed
from fedlib.training import encode, evaluate, train_local

SPLIT_PREFIX = {"validation": "val", "test": "test"}


@functools.lru_cache(maxsize=64)
def encoded_split(config_json: str, client_index: int, split: str) -> Dataset:
    """One client's ``split``, tokenized; cached per process, keyed on the resolved config's JSON."""
    cfg = ExperimentConfig.from_json(config_json)
    client = build_clients(cfg)[client_index]
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    return encode(getattr(client, split), bundle.tokenizer, cfg.max_length)


def test_outcome_metrics(predictions: list[int], labels: list[int], num_labels: int) -> dict[str, list[int]]:
    """What a client reports of its test set, once per run, for the statistics: whether each example
    was right (0/1, in row order) and how often each label was predicted. Never the labels or the
    predictions themselves, nor any text: the server learns which of the client's test examples the
    global model got right, which the confidence intervals need, and nothing about what they say."""
    correct, counts = test_outcomes(predictions, labels, num_labels)
    return {"test-correct": correct, "test-predicted-counts": counts}


IDENTIFY = "query.identify"  # message type: the server asks a node which client it is


def update_norm(trained: dict[str, torch.Tensor], received: dict[str, torch.Tensor]) -> float:
    """L2 norm of ``trained - received`` over all of ``received``'s arrays (float64): the update that
    ``fixedclipping_mod`` would clip, before clipping."""
    total = sum(float(((trained[k].detach().cpu().double() - v.detach().cpu().double()) ** 2).sum())
                for k, v in received.items())
    return total ** 0.5


def partition_index(cfg: ExperimentConfig, context: Context) -> int:
    """This node's client index (``partition-id``), checked against the config's clients."""
    index = int(context.node_config["partition-id"])
    names = [c.name for c in build_clients(cfg)]
    if not 0 <= index < len(names):
        raise ValueError(
            f"partition-id {index} is out of range: this experiment has {len(names)} clients {names} "
            f"(partition-ids 0..{len(names) - 1}); start one node per client"
        )
    return index


def _setup(message: Message, context: Context, fixed: ExperimentConfig | None):
    cfg = (fixed or config_from_context(context)).resolved()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    index = partition_index(cfg, context)
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    load_trainable_state(bundle.model, arrays_to_state(message.content["arrays"]))
    return cfg, index, bundle


def build_client_app(config: ExperimentConfig | None = None) -> ClientApp:
    """A ClientApp for ``config``, or (``None``) for the config in the run's ``run_config``."""
    app = ClientApp()

    def clipping_mod(message: Message, context: Context, call_next) -> Message:
        """Flower's ``fixedclipping_mod`` when this run uses DP, or when the server asks for clipping.

        A client configured for DP whose server does not send a clipping norm gets an error reply
        (from the mod) rather than sending its update unclipped.
        """
        cfg = config or config_from_context(context)
        asked = any(KEY_CLIPPING_NORM in record for record in message.content.config_records.values())
        if cfg.dp_clipping_norm is None and not asked:
            return call_next(message, context)
        return fixedclipping_mod(message, context, call_next)

    @app.query("identify")
    def identify(message: Message, context: Context) -> Message:
        """Tell the server which client (partition) this node is; nothing else."""
        cfg = (config or config_from_context(context)).resolved()
        index = partition_index(cfg, context)
        return Message(RecordDict({"metrics": MetricRecord({"client-index": index})}), reply_to=message)

    @app.train(mods=[clipping_mod])
    def train(message: Message, context: Context) -> Message:
        cfg, index, bundle = _setup(message, context, config)
        received = arrays_to_state(message.content["arrays"])
        server_round = int(message.content["config"]["server-round"])
        proximal_mu = float(message.content["config"].get("proximal-mu", 0.0))
        key = cfg.to_json()
        report = train_local(
            bundle.model, bundle.tokenizer, encoded_split(key, index, "train"),
            epochs=cfg.local_epochs, lr=cfg.lr, batch_size=cfg.batch_size,
            seed=client_seed(cfg.seed, index, server_round), proximal_mu=proximal_mu,
            progress=False, runtime=bundle.runtime,
        )
        trained = trainable_state(bundle.model)
        metrics = MetricRecord({
            "num-examples": report.num_examples, "train-loss": report.train_loss,
            "client-index": index, "seconds": report.seconds,
            **({"update-norm": update_norm(trained, received)} if cfg.dp_clipping_norm is None else {}),
        })
        content = RecordDict({"arrays": state_to_arrays(trained), "metrics": metrics})
        return Message(content, reply_to=message)

    @app.evaluate()
    def evaluate_global(message: Message, context: Context) -> Message:
        """Evaluate the global parameters on this client's ``split`` (validation each round, test once)."""
        cfg, index, bundle = _setup(message, context, config)
        split = str(message.content["config"].get("split", "validation"))
        if split not in SPLIT_PREFIX:
            raise ValueError(f"unknown evaluation split {split!r}; expected one of {list(SPLIT_PREFIX)}")
        values = evaluate(bundle.model, encoded_split(cfg.to_json(), index, split), bundle.tokenizer,
                          runtime=bundle.runtime, keep_predictions=split == "test")
        prefix = SPLIT_PREFIX[split]
        metrics = {"num-examples": values.pop("num_examples"), "client-index": index}
        if split == "test":
            metrics.update(test_outcome_metrics(values.pop("predictions"), values.pop("labels"),
                                                bundle.model.config.num_labels))
        metrics.update({f"{prefix}-{k.replace('_', '-')}": float(v) for k, v in values.items()})
        return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)

    return app


# For `flwr run .` (simulation or deployment): the experiment comes from the run config.
app = build_client_app()
