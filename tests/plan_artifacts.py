"""Plan artifacts made up for tests: what the compute plan would write, with chosen accuracies."""

import json
import zlib

import numpy as np

from fedlib import plan as plans
from fedlib.artifacts import artifact_path
from fedlib.predictions import encode_labels

NC_LANGUAGES = ("en", "de", "es", "fr", "ru")


def fabricate(task: str, arm_key: str, accuracy: float, *, seeds, n: int = 300, profile: str = "smoke",
              languages=NC_LANGUAGES, labels_count: int = 7, one_label: bool = False):
    """Artifacts as the plan would write them, with per-example predictions of a given accuracy."""
    plan = plans.get_plan(task)
    arm = plan.arm(arm_key)
    lr = arm.lr_grid[0]
    rng = np.random.default_rng(zlib.crc32(arm_key.encode()))
    labels = rng.integers(0, labels_count, n)
    for seed in seeds:
        cfg = plan.config(arm, seed=seed, lr=lr, profile=profile)
        right = rng.random(n) < accuracy
        predictions = np.where(right, labels, (labels + 1) % labels_count)
        if one_label:  # a collapsed arm: one label predicted everywhere, right where the label is 0
            predictions = np.zeros(n, dtype=int)
            right = labels == 0
        counts = np.bincount(predictions, minlength=labels_count)
        per_language = {lang: {"accuracy": float(right.mean()), "macro_f1": 0.0,
                               "correct": encode_labels(right.astype(int)),
                               "predicted_counts": encode_labels(counts, separator=True)}
                        for lang in languages}
        artifact = {"schema": 2, "seed": seed, "run_name": cfg.run_name(), "config": cfg.resolved().to_dict(),
                    "per_language": per_language, "average": {"accuracy": float(right.mean())},
                    "wall_seconds": 1.0, "best_round": 1, "history": {"rounds": [{}] * 6,
                                                                      "best": {"val_accuracy": 0.5}}}
        path = artifact_path(cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(artifact))
    selection = plans.selection_path(plan, profile)
    chosen = json.loads(selection.read_text()) if selection.exists() else {}
    chosen[arm_key] = {"lr": lr, "scores": {}, "at_edge": False}
    selection.write_text(json.dumps(chosen))
