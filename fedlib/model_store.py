"""The trained weights a run ends with, kept beside the machine's cache rather than in git.

An artifact keeps a run's scores; some questions need the model itself: how it does on languages
that never joined the federation (:mod:`fedlib.unseen`), or whether it memorised its training rows
(:mod:`fedlib.membership`). A run therefore saves the trainable parameters it reports its test
scores with -- the best round's global parameters (federated), the best epoch's (centralized), or
one set per client (monolingual) -- as one safetensors file under :func:`models_dir`.

Only the trainable parameters are kept: the frozen backbone is rebuilt from the profile, so a prompt
encoder costs a few MB. The files are outputs of a machine, not of the repository (full fine-tuning
keeps ~470 MB); a run whose artifact is committed but whose weights are not on this machine is
trained again by :func:`fedlib.paradigms.trained_states`, which also checks that the retrained run
reproduces the committed scores.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from fedlib.config import cache_dir
from fedlib.experiment import ExperimentConfig

SEPARATOR = "/"  # "<model>/<parameter name>": parameter names contain dots, never slashes


def models_dir() -> Path:
    """Where trained weights go (``FEDLIB_MODELS`` overrides ``<cache>/models``)."""
    return Path(os.environ.get("FEDLIB_MODELS", cache_dir() / "models"))


def model_path(config: ExperimentConfig) -> Path:
    from fedlib.data import task_file_name

    cfg = config.resolved()
    return models_dir() / cfg.profile / task_file_name(cfg.task) / f"{config.run_name()}.safetensors"


def save_states(config: ExperimentConfig, states: Mapping[str, Mapping[str, torch.Tensor]],
                info: Mapping[str, object] | None = None) -> Path:
    """Write the run's trainable states (``{model name: {parameter: tensor}}``) and ``info`` (JSON)."""
    from safetensors.torch import save_file

    if any(SEPARATOR in name for name in states):
        raise ValueError(f"model names may not contain {SEPARATOR!r}: {sorted(states)}")
    flat = {f"{name}{SEPARATOR}{key}": tensor.detach().cpu().contiguous()
            for name, state in states.items() for key, tensor in state.items()}
    metadata = {"config_hash": config.resolved().config_hash(), "models": json.dumps(list(states)),
                "info": json.dumps(dict(info or {}))}
    path = model_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(flat, str(tmp), metadata=metadata)
    os.replace(tmp, path)  # atomic: a killed run leaves no half-written weights under the real name
    return path


def load_states(config: ExperimentConfig) -> tuple[dict[str, OrderedDict[str, torch.Tensor]], dict] | None:
    """``(states, info)`` saved for this config, or ``None`` when this machine has none."""
    from safetensors import safe_open

    path = model_path(config)
    if not path.exists():
        return None
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        if metadata.get("config_hash") != config.resolved().config_hash():
            raise ValueError(f"{path} holds the weights of another config ({metadata.get('config_hash')})")
        states: dict[str, OrderedDict[str, torch.Tensor]] = {name: OrderedDict()
                                                            for name in json.loads(metadata["models"])}
        for key in handle.keys():
            name, parameter = key.split(SEPARATOR, 1)
            states[name][parameter] = handle.get_tensor(key)
    return states, json.loads(metadata["info"])
