"""The engine on the tiny random backbone: what travels, how it is averaged, what is recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fedtest import LANGS, run, run_recorded, smoke_config

from fedlib.federated.client_app import IDENTIFY
from fedlib.methods import trainable_state
from fedlib.model import ModelBundle, ModelSpec, get_bundle, model_spec, num_labels_of


@pytest.mark.parametrize("method", ["prompt", "ptuning", "lora"])
def test_only_trainable_parameters_travel(method):
    cfg = smoke_config(method=method)
    grid, _ = run_recorded(cfg)
    bundle = get_bundle(model_spec(cfg, num_labels_of(cfg)))
    expected = set(trainable_state(bundle.model))
    assert all("classifier" in k or "prompt_encoder" in k or "lora_" in k for k in expected)
    train_replies = [r for r in grid.replies if "arrays" in r.content.array_records]
    assert len(train_replies) == len(LANGS)
    for message in grid.sent:
        if message.metadata.message_type == IDENTIFY:  # "which client are you?": carries nothing
            assert not list(message.content.keys())
            continue
        assert set(message.content.array_records) == {"arrays"}
        assert set(message.content["arrays"].keys()) == expected
    for reply in grid.replies:
        for record in reply.content.array_records.values():
            assert set(record.keys()) == expected
        assert set(reply.content.metric_records) == {"metrics"}
        assert not reply.content.config_records


def test_fedavg_is_the_example_weighted_mean():
    cfg = smoke_config(partition="dirichlet", clients_per_language=2, alpha=0.3, languages=("eng_Latn",))
    grid, history = run_recorded(cfg)
    train_replies = [r for r in grid.replies if "arrays" in r.content.array_records]
    weights = np.array([r.content["metrics"]["num-examples"] for r in train_replies], dtype=float)
    assert len(set(weights)) > 1, "the Dirichlet shards should differ in size for this check to bite"
    final = history["_final_arrays"]
    for key in final:
        stacked = np.stack([r.content["arrays"][key].numpy() for r in train_replies])
        by_hand = np.tensordot(weights / weights.sum(), stacked, axes=1)
        np.testing.assert_allclose(final[key], by_hand, rtol=1e-5, atol=1e-6)


def test_ptuning_state_round_trip_reproduces_the_prompt():
    spec = ModelSpec("tiny-random", "ptuning", num_labels=3, num_virtual_tokens=4)
    source, target = ModelBundle(spec), ModelBundle(spec)
    source.reset(seed=1)
    target.reset(seed=2)
    from fedlib.methods import load_trainable_state

    load_trainable_state(target.model, trainable_state(source.model))
    batch = source.tokenizer(["a short sentence", "une phrase"], return_tensors="pt", padding=True)
    for bundle in (source, target):
        bundle.model.eval()
    with torch.no_grad():
        a = source.model(**batch).logits
        b = target.model(**batch).logits
        prompt_a = source.model.get_prompt_embedding_to_save("default")
        prompt_b = target.model.get_prompt_embedding_to_save("default")
    torch.testing.assert_close(prompt_a, prompt_b, rtol=0, atol=0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_initial_state_depends_only_on_the_seed():
    bundle = get_bundle(ModelSpec("tiny-random", "prompt", num_labels=7, num_virtual_tokens=4))
    first, again, other = bundle.initial_state(3), bundle.initial_state(3), bundle.initial_state(4)
    for key in first:
        torch.testing.assert_close(first[key], again[key], rtol=0, atol=0)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_bytes_are_measured_per_client_and_round():
    cfg = smoke_config(rounds=2, patience=5)
    _, history = run_recorded(cfg)
    assert len(history["rounds"]) == 2
    n_values = sum(v.numel() for v in trainable_state(get_bundle(model_spec(cfg, 7)).model).values())
    for record in history["rounds"]:
        for client in record["clients"].values():
            assert client["bytes_received"] >= 4 * n_values  # float32 arrays at least
            assert client["bytes_sent"] >= 4 * n_values
            assert 0.0 <= client["val_accuracy"] <= 1.0
    assert set(history["best"]["per_language"]) == set(LANGS)
    assert all("test_accuracy" in m for m in history["best"]["per_language"].values())


def test_failing_client_is_recorded_and_round_completes():
    def fail(message, partition):
        if partition == 1 and message.metadata.message_type == "train":
            return "disk on fire"

    history = run(smoke_config(), fail=fail)
    assert [f["stage"] for f in history["failures"]] == ["train"]
    assert "disk on fire" in history["failures"][0]["reason"]
    assert history["failures"][0]["client"] == "hau_Latn"  # named by client, not only by node id
    assert list(history["rounds"][0]["clients"]) == list(history["clients"])  # both still evaluated


def test_fedprox_sends_its_proximal_term_to_every_client():
    cfg = smoke_config(strategy="fedprox", proximal_mu=0.5)
    grid, history = run_recorded(cfg)
    train_messages = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert len(train_messages) == len(LANGS)
    assert all(float(m.content["config"]["proximal-mu"]) == 0.5 for m in train_messages)
    assert history["best"]["per_language"]


def test_fedadam_moves_the_server_model_differently_from_fedavg():
    fedavg = run_recorded(smoke_config(strategy="fedavg"))[1]["_final_arrays"]
    fedadam = run_recorded(smoke_config(strategy="fedadam", server_lr=0.05))[1]["_final_arrays"]
    assert set(fedavg) == set(fedadam)
    assert any(not np.allclose(fedavg[k], fedadam[k]) for k in fedavg)
