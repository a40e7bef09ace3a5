"""Reliability: failing clients, a minimum of successful clients, resuming a killed run (and refusing
checkpoints that could run code), and the artifact identity of configs that leave the new options
alone. Tiny random backbone."""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from fedtest import LANGS, run, smoke_config

from fedlib import atomic_file, paradigms
from fedlib.artifacts import artifact_path
from fedlib.experiment import ExperimentConfig
from fedlib.federated import checkpoint, run_federated, server_app
from fedlib.federated.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    PickledCheckpointError,
    load_checkpoint,
)
from fedlib.federated.client_app import build_client_app


# ------------------------------------------------------------------ failing clients, minimum
def test_failure_names_the_client_round_stage_and_reason():
    cfg = smoke_config(rounds=2)

    def fail(message, partition):  # hau_Latn's training breaks in round 2
        if partition == 1 and message.metadata.message_type == "train" \
                and int(message.content["config"]["server-round"]) == 2:
            return "disk on fire"

    history = run(cfg, fail=fail)
    assert len(history["rounds"]) == 2
    (failure,) = history["failures"]
    assert failure["round"] == 2 and failure["stage"] == "train"
    assert failure["client"] == "hau_Latn" and failure["lang"] == "hau_Latn"
    assert "disk on fire" in failure["reason"]
    assert list(history["rounds"][1]["clients"]) == ["eng_Latn", "hau_Latn"]  # still evaluated
    assert "train_loss" not in history["rounds"][1]["clients"]["hau_Latn"]
    assert set(history["best"]["per_language"]) == set(LANGS)


def test_failures_reach_the_artifact(results_tmp, monkeypatch):
    from fedlib.federated import engines

    def failing_app(cfg):
        app = build_client_app(cfg)

        def call(message, context):
            if message.metadata.message_type == "train" and context.node_config["partition-id"] == 1:
                raise RuntimeError("out of memory on the edge device")
            return app(message, context)
        return call

    monkeypatch.setattr(engines, "build_client_app", failing_app)
    cfg = ExperimentConfig(task="sib200", languages=LANGS, profile="smoke", rounds=1, num_threads=1)
    paradigms.run_experiment(cfg)
    saved = json.loads(artifact_path(cfg).read_text())
    failures = saved["history"]["failures"]
    assert [(f["round"], f["stage"], f["client"]) for f in failures] == [(1, "train", "hau_Latn")]
    assert "out of memory" in failures[0]["reason"]


def test_too_few_successful_clients_abort_with_a_clear_error():
    cfg = smoke_config(min_successful_clients=2)

    def fail(message, partition):
        if partition == 1 and message.metadata.message_type == "train":
            return "disk on fire"

    with pytest.raises(RuntimeError) as err:
        run(cfg, fail=fail)
    message = str(err.value)
    assert "round 1 (train)" in message and "only 1 of 2 clients succeeded" in message
    assert "min_successful_clients=2" in message
    assert "hau_Latn: RuntimeError: disk on fire" in message


def test_minimum_applies_to_evaluation_too():
    cfg = smoke_config(min_successful_clients=2)

    def fail(message, partition):
        if partition == 0 and message.metadata.message_type == "evaluate":
            return "validation shard unreadable"

    with pytest.raises(RuntimeError, match=r"(?s)round 1 \(evaluate-validation\).*eng_Latn: RuntimeError: "
                                           r"validation shard unreadable"):
        run(cfg, fail=fail)


def test_default_minimum_is_one_client():
    cfg = smoke_config()
    with pytest.raises(RuntimeError, match="only 0 of 2 clients succeeded, fewer than at least one"):
        run(cfg, fail=lambda message, partition: "down" if message.metadata.message_type == "train" else None)


@pytest.mark.parametrize("value", [0, 3, -1, 1.5])
def test_minimum_is_validated_before_work(value):
    with pytest.raises(ValueError, match="min_successful_clients"):
        smoke_config(min_successful_clients=value)


# ------------------------------------------------------------------ resume
class Killed(Exception):
    pass


def _kill_after(round_number):
    def progress(record):
        if record["round"] == round_number:
            raise Killed(f"killed after round {round_number}")
    return progress


def _assert_same_results(a: dict, b: dict) -> None:
    assert set(a["_final_arrays"]) == set(b["_final_arrays"])
    for key in a["_final_arrays"]:
        np.testing.assert_array_equal(a["_final_arrays"][key], b["_final_arrays"][key], err_msg=key)
    assert a["best"]["per_language"] == b["best"]["per_language"]
    assert (a["best"]["round"], a["best"]["val_accuracy"]) == (b["best"]["round"], b["best"]["val_accuracy"])
    assert [r["val_accuracy"] for r in a["rounds"]] == [r["val_accuracy"] for r in b["rounds"]]

    def timeless(history):  # per-client records without their wall times
        return [{n: {k: v for k, v in c.items() if k != "seconds"} for n, c in r["clients"].items()}
                for r in history["rounds"]]

    assert timeless(a) == timeless(b)


@pytest.mark.parametrize("strategy", ["fedadam", "fedavg"])
def test_killed_run_resumes_to_identical_results(strategy, tmp_path):
    cfg = smoke_config(strategy=strategy, server_lr=0.05, rounds=3, patience=5)
    uninterrupted = run(cfg)

    folder = tmp_path / "ckpt"
    with pytest.raises(Killed):
        run(cfg, checkpoint_dir=folder, progress=_kill_after(2))
    saved = load_checkpoint(folder, cfg.config_hash())
    assert saved["round"] == 2 and not saved["done"] and len(saved["history"]["rounds"]) == 2
    if strategy == "fedadam":
        assert saved["strategy"][0]["m_t"] and saved["strategy"][0]["v_t"]  # the moments are saved
    # As in a new process: other RNG states (the checkpoint's must be restored).
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)

    resumed = run(cfg, checkpoint_dir=folder)
    assert resumed["resumed_after_rounds"] == [2]
    assert [r["round"] for r in resumed["rounds"]] == [1, 2, 3]
    _assert_same_results(uninterrupted, resumed)


def test_resume_without_the_strategy_state_would_differ(tmp_path, monkeypatch):
    """The FedAdam moments matter: dropping them on resume changes the result (the test above bites)."""
    cfg = smoke_config(strategy="fedadam", server_lr=0.05, rounds=3, patience=5)
    uninterrupted = run(cfg)
    folder = tmp_path / "ckpt"
    with pytest.raises(Killed):
        run(cfg, checkpoint_dir=folder, progress=_kill_after(2))
    monkeypatch.setattr(server_app, "restore_strategy_state", lambda strategy, state: None)
    resumed = run(cfg, checkpoint_dir=folder)
    a, b = uninterrupted["_final_arrays"], resumed["_final_arrays"]
    assert any(not np.array_equal(a[k], b[k]) for k in a)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    folder = tmp_path / "ckpt"
    with pytest.raises(Killed):
        run(smoke_config(rounds=2), checkpoint_dir=folder, progress=_kill_after(1))
    with pytest.raises(CheckpointMismatchError, match="belongs to config"):
        run(smoke_config(rounds=2, lr=0.5), checkpoint_dir=folder)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("killed_in", ["tensors", "index"])
def test_checkpoint_write_is_atomic(killed_in, tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    checkpoint.save_checkpoint(folder, {"config_hash": "abc", "round": 1, "arrays": {"w": np.zeros(3)}})
    before = _files(folder)
    assert before[0] == checkpoint.FILENAME and len(before) == 2  # checkpoint.json + its tensor file
    calls = []
    real_fsync = atomic_file.os.fsync

    def killed_mid_write(fd):
        calls.append(fd)
        if len(calls) == (1 if killed_in == "tensors" else 2):
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(atomic_file.os, "fsync", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(folder, {"config_hash": "abc", "round": 2, "arrays": {"w": np.ones(3)}})
    monkeypatch.undo()
    saved = checkpoint.load_checkpoint(folder, "abc")
    assert saved["round"] == 1 and not saved["arrays"]["w"].any()
    assert not [name for name in _files(folder) if name.endswith(".tmp")]  # no temporary file left
    checkpoint.save_checkpoint(folder, {"config_hash": "abc", "round": 2, "arrays": {"w": np.ones(3)}})
    assert len(_files(folder)) == 2  # a tensor file a kill left behind is removed by the next save
    assert checkpoint.load_checkpoint(folder, "abc")["round"] == 2


def test_a_json_file_is_replaced_whole_or_kept(tmp_path, monkeypatch):
    path = tmp_path / "new" / "folder" / "result.json"
    atomic_file.write_json_atomically(path, {"b": np.float32(0.5), "a": 1})
    assert path.read_text() == '{\n "a": 1,\n "b": 0.5\n}\n'  # sorted keys, numpy scalars as floats

    def killed(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic_file.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_file.write_json_atomically(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1, "b": 0.5}
    assert _files(path.parent) == ["result.json"]


def test_checkpoint_round_trips_rng_states_and_types(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # a cached Gaussian is part of Python's state
    state = {"config_hash": "abc", "rng": checkpoint.rng_state(), "pair": (1, [2.5, None]), "nan": float("nan"),
             "arrays": {"b": np.arange(6, dtype=np.float32).reshape(2, 3).T, "a": np.array([7], dtype=np.int64)}}
    checkpoint.save_checkpoint(tmp_path, state)
    expected = (random.random(), random.gauss(0, 1), np.random.standard_normal(3), torch.rand(3))
    saved = checkpoint.load_checkpoint(tmp_path, "abc")
    checkpoint.restore_rng_state(saved["rng"])
    again = (random.random(), random.gauss(0, 1), np.random.standard_normal(3), torch.rand(3))
    assert again[:2] == expected[:2]
    np.testing.assert_array_equal(again[2], expected[2])
    assert torch.equal(again[3], expected[3])
    assert saved["pair"] == (1, [2.5, None]) and np.isnan(saved["nan"])
    assert list(saved["arrays"]) == ["b", "a"]  # order kept
    for key, value in state["arrays"].items():
        assert saved["arrays"][key].dtype == value.dtype
        np.testing.assert_array_equal(saved["arrays"][key], value)


class _Payload:
    """A pickle of this creates ``marker`` when loaded: what a malicious checkpoint would do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture()
def pickle_payload(tmp_path):
    """(pickle bytes that would create the marker file, the marker); checked to be live."""
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(probe)))  # noqa: S301 -- our own payload: proves the planted ones would run
    assert probe.exists()
    marker = tmp_path / "code-ran"
    return pickle.dumps(_Payload(marker)), marker


def test_pickled_checkpoint_is_refused_and_never_unpickled(pickle_payload, tmp_path):
    payload, marker = pickle_payload
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "checkpoint.pkl").write_bytes(payload)  # the old format's file name
    cfg = smoke_config(rounds=2)
    with pytest.raises(PickledCheckpointError) as err:
        run_federated(cfg, checkpoint_dir=folder)  # refused before any engine starts
    message = str(err.value)
    assert "checkpoint.pkl" in message and "never unpickles" in message
    assert f"Delete {folder.resolve()} to restart the run" in message
    with pytest.raises(PickledCheckpointError):
        run(cfg, checkpoint_dir=folder)  # the ServerApp refuses it too
    assert not marker.exists()


@pytest.mark.parametrize("disguise", ["index", "tensors"])
def test_pickle_under_a_checkpoint_file_name_is_never_unpickled(disguise, pickle_payload, tmp_path):
    payload, marker = pickle_payload
    folder = tmp_path / "ckpt"
    checkpoint.save_checkpoint(folder, {"config_hash": "abc", "round": 1, "arrays": {"w": np.zeros(3)}})
    target = folder / checkpoint.FILENAME if disguise == "index" else next(folder.glob(checkpoint.TENSORS_GLOB))
    target.write_bytes(payload)
    with pytest.raises(CheckpointError, match="delete .* to start afresh"):
        load_checkpoint(folder, "abc")
    assert not marker.exists()


def test_run_experiment_resumes_and_removes_its_checkpoint(results_tmp, monkeypatch, capsys):
    cfg = ExperimentConfig(task="sib200", languages=LANGS, profile="smoke", rounds=3, patience=5,
                           num_threads=1, strategy="fedadam", server_lr=0.05)
    reference = paradigms.run_experiment(cfg)
    path = artifact_path(cfg)
    folder = paradigms.checkpoint_dir_for(path)
    assert not folder.exists()
    path.unlink()

    real_save = server_app.save_checkpoint

    def save_then_die(where, state):
        real_save(where, state)
        if state["round"] == 2:
            raise Killed("power cut")

    monkeypatch.setattr(server_app, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        paradigms.run_experiment(cfg)
    assert (folder / checkpoint.FILENAME).exists() and not path.exists()
    monkeypatch.setattr(server_app, "save_checkpoint", real_save)
    capsys.readouterr()
    resumed = paradigms.run_experiment(cfg, progress=True)
    bar = capsys.readouterr().err
    assert "3/3" in bar and "1/3" not in bar  # the round bar counts from the resumed round, not from 1
    assert resumed["history"]["resumed_after_rounds"] == [2]
    assert resumed["per_language"] == reference["per_language"]
    assert resumed["config_hash"] == reference["config_hash"]
    assert not folder.exists()


# ------------------------------------------------------------------ artifact identity
# Computed before the reliability/privacy fields existed; configs that leave them at their default
# must keep this hash (it names committed and in-progress artifacts).
KNOWN_HASHES = [
    (dict(task="sib200", languages=["eng_Latn", "hau_Latn"], profile="smoke"), "bd02050a9910"),
    (dict(task="sib200", languages=["eng_Latn", "hau_Latn"], profile="smoke", strategy="fedadam", rounds=3),
     "8db39fac70c2"),
    (dict(task="nc_standin", profile="cpu", paradigm="federated", method="prompt"), "2c343b512191"),
]


@pytest.mark.parametrize("values, expected", KNOWN_HASHES)
def test_new_fields_at_their_default_keep_the_config_hash(values, expected, monkeypatch):
    monkeypatch.delenv("FEDLIB_BACKBONE", raising=False)
    # These hashes were computed in fp32, the only precision there was; the smoke profile's own default
    # is ``auto`` (bf16 on CPUs that have it), so the legacy precision is named here.
    monkeypatch.setenv("FEDLIB_PRECISION", "fp32")
    cfg = ExperimentConfig.from_dict(values)
    assert cfg.config_hash() == expected
    # The artifact's recorded config (every field, new ones at their default) gives the same hash.
    assert ExperimentConfig.from_dict(cfg.resolved().to_dict()).config_hash() == expected
    explicit = ExperimentConfig.from_dict({**values, "min_successful_clients": None, "dp_clipping_norm": None,
                                           "dp_noise_multiplier": 0.0})
    assert explicit.config_hash() == expected
    assert ExperimentConfig.from_dict({**values, "precision": "fp32", "device": "cpu"}).config_hash() == expected
    assert ExperimentConfig.from_dict({**values, "precision": "bf16"}).config_hash() != expected
    assert ExperimentConfig.from_dict({**values, "dp_clipping_norm": 1.0}).config_hash() != expected
    assert ExperimentConfig.from_dict({**values, "min_successful_clients": 1}).config_hash() != expected


def test_committed_artifacts_load_and_keep_their_hash():
    """Every committed artifact loads, and its recorded config still hashes to its recorded hash."""
    from fedlib.artifacts import load_artifact
    from fedlib.config import REPO_ROOT

    # A folder task's artifacts name a folder on this machine (fedlib.data.folder): never committed.
    paths = [p for p in sorted((REPO_ROOT / "results").glob("*/*/*.json"))
             if p.name != "lr-selection.json" and not p.parent.name.startswith("folder-")]
    if not paths:
        pytest.skip("no result artifacts in this checkout")
    for path in paths:
        artifact = load_artifact(path)
        assert ExperimentConfig.from_dict(artifact["config"]).config_hash() == artifact["config_hash"], path
        assert path.name == f"{artifact['run_name']}.json", path
