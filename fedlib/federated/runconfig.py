"""Reading an :class:`ExperimentConfig` from a Flower run config, and the run config's keys.

``flwr run`` passes ``[tool.flwr.app.config]`` (plus ``--run-config`` overrides) to both apps. A run
config either carries the whole experiment as JSON under ``fedlib-config``, or one key per field
(``languages`` as a comma-separated string), which is what a person types on the command line.

The deployment engine writes run configs without loading torch, so this module imports
:mod:`fedlib.experiment` (which does) only when it builds a config.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flwr.app import Context

    from fedlib.experiment import ExperimentConfig

CONFIG_KEY = "fedlib-config"  # the whole ExperimentConfig as JSON
RESULT_KEY = "result-path"  # where the ServerApp writes the run's result ("" = nowhere)
CHECKPOINT_KEY = "checkpoint-dir"  # folder for round checkpoints ("" = none)


def config_from_run_config(run_config: dict) -> ExperimentConfig:
    from fedlib.experiment import ExperimentConfig

    if CONFIG_KEY in run_config and run_config[CONFIG_KEY]:
        return ExperimentConfig.from_json(str(run_config[CONFIG_KEY]))
    fields = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
    values = {}
    for key, value in run_config.items():
        name = key.replace("-", "_")
        if name not in fields or value == "":
            continue
        if name == "languages":
            value = tuple(lang.strip() for lang in str(value).split(",") if lang.strip())
        values[name] = value
    if "task" not in values:
        raise ValueError("the run config names no task: set `task` (or `fedlib-config`) in --run-config")
    return ExperimentConfig(**values)


def config_from_context(context: Context) -> ExperimentConfig:
    return config_from_run_config(dict(context.run_config))


def config_to_run_config(config: ExperimentConfig) -> dict[str, str]:
    return {CONFIG_KEY: config.to_json()}
