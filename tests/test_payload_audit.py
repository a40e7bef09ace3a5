"""Payload audit: every message a client sends holds only the configured trainable
parameters and numeric metrics -- no backbone weights, no text, no token ids.

Each reply is checked as records and as the bytes Flower would put on the wire
(``message_to_proto(...).SerializeToString()``).
"""

from __future__ import annotations

import numpy as np
import pytest
from flwr.common.serde import message_to_proto

from fedlib.client_datasets import build_clients
from fedlib.config import get_profile
from fedlib.experiment import ExperimentConfig
from fedlib.federated.client_app import IDENTIFY, build_client_app
from fedlib.federated.engines import InProcessGrid, quiet_flower
from fedlib.federated.runconfig import config_to_run_config
from fedlib.federated.server_app import federate
from fedlib.methods import trainable_state
from fedlib.model import get_bundle, model_spec, num_labels_of

LANGS = ("eng_Latn", "hau_Latn")
# Every metric a client may report, by message type.
ALLOWED_METRICS = {
    IDENTIFY: {"client-index"},
    "train": {"num-examples", "train-loss", "client-index", "seconds", "update-norm"},  # update-norm: no-DP runs only
    "evaluate": {"num-examples", "client-index", "val-accuracy", "val-macro-f1", "val-loss",
                 "test-accuracy", "test-macro-f1", "test-loss", "test-correct", "test-predicted-counts"},
}
# The only lists a client sends, once per run with its test metrics (what the intervals resample):
# 0/1 per test example, and one count per label. Never labels, predictions, token ids or text.
OUTCOME_LISTS = {"test-correct", "test-predicted-counts"}


def audited_run(cfg):
    """Run ``cfg`` in-process; return every (request, reply, partition-id) a client handled."""
    grid = InProcessGrid(build_client_app(cfg), len(build_clients(cfg)), config_to_run_config(cfg))
    app, log = grid.client_app, []

    def recording(message, context):
        reply = app(message, context)
        log.append((message, reply, int(context.node_config["partition-id"])))
        return reply

    grid.client_app = recording
    with quiet_flower():
        federate(grid, cfg)
    return log


def _id_windows(ids: list[int], width: int = 4):
    """Byte patterns of ``width`` consecutive token ids, as int64 and int32 arrays would hold them."""
    for start in range(1, max(len(ids) - width, 1), width):
        window = ids[start:start + width]
        if len(window) == width:
            yield np.asarray(window, dtype="<i8").tobytes()
            yield np.asarray(window, dtype="<i4").tobytes()


@pytest.mark.parametrize("method", ["prompt", "ptuning", "lora"])
def test_client_messages_hold_only_trainable_parameters_and_numbers(method):
    cfg = ExperimentConfig(task="sib200", languages=LANGS, profile="smoke", rounds=1, num_threads=1,
                           method=method).resolved()
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    trainable = trainable_state(bundle.model)
    trainable_names = list(trainable)
    trainable_count = sum(v.numel() for v in trainable.values())
    backbone_names = [n for n, p in bundle.model.named_parameters() if not p.requires_grad]
    assert any("word_embeddings" in n for n in backbone_names) and len(backbone_names) > len(trainable_names)

    clients = build_clients(cfg)
    texts = {i: [t for split in (c.train, c.validation, c.test) for t in split["text"] if len(t) >= 8]
             for i, c in enumerate(clients)}
    token_windows = {i: [w for t in texts[i][:32] for w in _id_windows(bundle.tokenizer(t)["input_ids"])]
                     for i in texts}

    log = audited_run(cfg)
    kinds = [request.metadata.message_type for request, _, _ in log]
    assert kinds.count("train") == len(clients) and kinds.count(IDENTIFY) == len(clients)
    assert kinds.count("evaluate") == 2 * len(clients)  # validation, then test at the best round

    for request, reply, partition in log:
        kind = request.metadata.message_type
        assert not reply.has_error(), reply.error
        content = reply.content
        assert not content.config_records, "a client sends no config"
        # Arrays: only a training reply has any, and exactly the trainable parameters.
        if kind == "train":
            assert list(content.array_records) == ["arrays"]
            arrays = content["arrays"]
            assert list(arrays.keys()) == trainable_names
            assert not set(arrays.keys()) & set(backbone_names)
            assert not any("word_embeddings" in k or ("encoder.layer" in k and "lora_" not in k) for k in arrays.keys())
            assert sum(int(np.prod(a.shape)) for a in arrays.values()) == trainable_count
            for key, array in arrays.items():
                assert array.shape == tuple(trainable[key].shape) and array.dtype == "float32", key
        else:
            assert not content.array_records
        # Metrics: one record of plain numbers, with known names; no lists (token ids), no strings.
        assert list(content.metric_records) == ["metrics"]
        metrics = content["metrics"]
        assert set(metrics) <= ALLOWED_METRICS[kind], set(metrics) - ALLOWED_METRICS[kind]
        for key, value in metrics.items():
            if key in OUTCOME_LISTS:
                assert isinstance(value, list) and all(isinstance(v, int) for v in value), key
                continue
            assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        if "test-correct" in metrics:
            n = int(metrics["num-examples"])
            assert len(metrics["test-correct"]) == n and set(metrics["test-correct"]) <= {0, 1}
            assert sum(metrics["test-predicted-counts"]) == n
            assert len(metrics["test-predicted-counts"]) == bundle.model.config.num_labels
        assert metrics["client-index"] == partition
        # The wire bytes: none of this client's texts, nor runs of their token ids.
        wire = message_to_proto(reply).SerializeToString()
        for text in texts[partition]:
            assert text.encode("utf-8") not in wire, f"training text leaked: {text!r}"
        for window in token_windows[partition]:
            assert window not in wire, "a run of token ids appears in the message"


def test_audit_catches_a_leak():
    """The audit's own sanity check: a reply that smuggles a training text in is caught."""
    from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict

    cfg = ExperimentConfig(task="sib200", languages=LANGS, profile="smoke", rounds=1).resolved()
    text = build_clients(cfg)[0].train["text"][0]
    InProcessGrid(build_client_app(cfg), 1)  # sets the task identity Flower stamps on messages
    leaky = Message(RecordDict({"config": ConfigRecord({"note": text})}), dst_node_id=1, message_type="train")
    assert text.encode("utf-8") in message_to_proto(leaky).SerializeToString()
    ids = get_bundle(model_spec(cfg, num_labels_of(cfg))).tokenizer(text)["input_ids"]
    for dtype in ("int64", "int32"):
        smuggled = Message(RecordDict({"ids": ArrayRecord([np.asarray(ids, dtype=dtype)])}), dst_node_id=1,
                           message_type="train")
        wire = message_to_proto(smuggled).SerializeToString()
        assert any(window in wire for window in _id_windows(ids))


def test_payload_summary_lists_exactly_the_trainable_parameters():
    from fedlib.methods import count_parameters
    from fedlib.payload import payload_summary

    cfg = ExperimentConfig(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke", rounds=1).resolved()
    table = payload_summary("sib200", get_profile("smoke"), languages=cfg.languages, rounds=1)
    arrays = table[table["record"].str.startswith("ArrayRecord")]
    trainable = count_parameters(get_bundle(model_spec(cfg, num_labels_of(cfg))).model).trainable
    assert arrays["elements"].sum() == trainable
    assert set(table.loc[table["record"].str.startswith("MetricRecord"), "dtype"]) <= {"int", "float"}
    assert table.iloc[-1]["bytes"] == table.iloc[:-1]["bytes"].sum()
