"""Plan artifacts made up for tests: what the compute plan would write, with chosen accuracies."""

import json
import zlib

import numpy as np

from fedlib import plan as plans
from fedlib.artifacts import artifact_path
from fedlib.predictions import encode_labels

NC_LANGUAGES = ("en", "de", "es", "fr", "ru")


def _entry(right: np.ndarray, predictions: np.ndarray, labels_count: int) -> dict:
    return {"accuracy": float(right.mean()), "macro_f1": 0.0, "correct": encode_labels(right.astype(int)),
            "predicted_counts": encode_labels(np.bincount(predictions, minlength=labels_count), separator=True)}


def fabricate(task: str, arm_key: str, accuracy: float | dict[str, float], *, seeds, n: int = 300,
              profile: str = "smoke", languages=NC_LANGUAGES, labels_count: int = 7, one_label: bool = False):
    """Artifacts as the plan would write them, with per-example predictions of a given accuracy.

    A float gives every language the same outcomes; a dict (language -> accuracy) draws each language's
    own, so languages differ (the worst language, the spread)."""
    plan = plans.get_plan(task)
    arm = plan.arm(arm_key)
    selection = plans.selection_path(plan, profile)
    chosen = json.loads(selection.read_text()) if selection.exists() else {}
    lr = chosen[arm.lr_from]["lr"] if arm.lr_from else arm.lr_grid[0]  # a study arm: its base arm's rate
    rng = np.random.default_rng(zlib.crc32(arm_key.encode()))
    labels = rng.integers(0, labels_count, n)
    wrong = (labels + 1) % labels_count
    for seed in seeds:
        cfg = plan.config(arm, seed=seed, lr=lr, profile=profile)
        if isinstance(accuracy, dict):
            drawn = {lang: rng.random(n) < accuracy[lang] for lang in languages}
            per_language = {lang: _entry(right, np.where(right, labels, wrong), labels_count)
                            for lang, right in drawn.items()}
        else:
            right = rng.random(n) < accuracy
            predictions = np.where(right, labels, wrong)
            if one_label:  # a collapsed arm: one label predicted everywhere, right where the label is 0
                predictions = np.zeros(n, dtype=int)
                right = labels == 0
            per_language = {lang: _entry(right, predictions, labels_count) for lang in languages}
        average = float(np.mean([entry["accuracy"] for entry in per_language.values()]))
        artifact = {"schema": 2, "seed": seed, "run_name": cfg.run_name(), "config": cfg.resolved().to_dict(),
                    "per_language": per_language, "average": {"accuracy": average},
                    "wall_seconds": 1.0, "best_round": 1, "history": {"rounds": [{}] * 6,
                                                                      "best": {"val_accuracy": 0.5}}}
        path = artifact_path(cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(artifact))
    if not arm.lr_from:
        chosen[arm_key] = {"lr": lr, "scores": {}, "at_edge": False}
        selection.write_text(json.dumps(chosen))
