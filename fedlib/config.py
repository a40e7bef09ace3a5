"""Paths and run profiles.

One code path, three profiles picked by ``FEDLIB_PROFILE``:

* ``smoke`` -- tiny random XLM-R, a handful of examples: the unit tests and notebook smoke runs.
* ``cpu``   -- multilingual-e5-small rebuilt offline (``me5s-q4``), budgets that fit a 2-core CPU:
  the default for ``make book``.
* ``paper`` -- ``FacebookAI/xlm-roberta-base``, full data and the paper's hyper-parameters (GPU).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from platformdirs import user_cache_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder holding the shipped datasets (``FEDLIB_DATA`` overrides the repo's ``data/``)."""
    return Path(os.environ.get("FEDLIB_DATA", REPO_ROOT / "data"))


def cache_dir() -> Path:
    """Folder for built backbones and other derived files (``FEDLIB_CACHE``)."""
    path = Path(os.environ.get("FEDLIB_CACHE", user_cache_dir("fedlib")))
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """Folder holding result artifacts (``FEDLIB_RESULTS`` overrides the repo's ``results/``)."""
    return Path(os.environ.get("FEDLIB_RESULTS", REPO_ROOT / "results"))


def asset_dirs() -> list[Path]:
    """Local folders searched for backbone asset files when PyPI is out of reach.

    ``FEDLIB_ASSETS`` (``os.pathsep``-separated) first, then a ``shared/models/me5s-q4`` folder beside the checkout.
    """
    folders = [Path(p) for p in os.environ.get("FEDLIB_ASSETS", "").split(os.pathsep) if p]
    folders.append(REPO_ROOT.parent / "shared" / "models" / "me5s-q4")
    return folders


@dataclasses.dataclass(frozen=True)
class Profile:
    """Budgets of one profile. Every experiment reads its defaults from here."""

    name: str
    backbone: str
    max_length: int
    train_per_client: int | None  # None = all training rows
    eval_per_client: int | None  # test rows per client; None = all
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    patience: int
    seeds: tuple[int, ...]
    num_virtual_tokens: int = 20
    val_per_client: int | None = None  # validation rows per client; None = as eval_per_client
    secondary_seeds: int | None = None  # seeds for arms outside the headline comparison; None = all
    # Compute precision when neither the config nor $FEDLIB_PRECISION names one (fedlib.runtime).
    precision: str = "auto"
    protocol: int = 1  # data protocol (fedlib.protocol): 2 = no text in two splits, fixed test rows
    # Per-task overrides of the budgets above (e.g. 15 XNLI clients get fewer rows than 5 NC ones).
    task_budgets: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)

    def budget(self, task: str, field: str):
        """The profile's value of ``field`` for ``task``: the task's override, else the default."""
        overrides = self.task_budgets.get(task, {})
        if field in overrides:
            return overrides[field]
        if field == "val_per_client" and self.val_per_client is None:
            return overrides.get("eval_per_client", self.eval_per_client)
        return getattr(self, field)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", backbone="tiny-random", max_length=32, train_per_client=16,
        eval_per_client=16, rounds=2, local_epochs=1, batch_size=8, lr=1e-3, patience=5,
        seeds=(0,), num_virtual_tokens=4,
    ),
    "cpu": Profile(
        # Measured on 2 cores (me5s-q4): a soft-prompt step costs ~0.06 s per example, evaluation
        # ~0.017 s. Batch 4 gives as many optimiser steps as 128 rows at batch 8 for half the compute:
        # 64 rows x 6 rounds took the five NC stand-in clients from 14 % to 68 % test accuracy.
        name="cpu", backbone="me5s-q4", max_length=64, train_per_client=64,
        eval_per_client=100, val_per_client=32, rounds=6, local_epochs=1, batch_size=4, lr=5e-3,
        patience=5, seeds=(0, 1, 2), secondary_seeds=1,
        # The committed cpu artifacts were computed in fp32; bf16 is selected per run until the
        # budgets are re-chosen (changing any budget recomputes every artifact anyway).
        precision="fp32",
        task_budgets={
            # 15 and 16 clients: fewer rows each keeps a run near the cost of a 5-client NC run.
            "xnli": {"train_per_client": 16, "eval_per_client": 50, "val_per_client": 16},
            "masakhanews": {"train_per_client": 16, "eval_per_client": 50, "val_per_client": 16},
        },
    ),
    "paper": Profile(
        name="paper", backbone="FacebookAI/xlm-roberta-base", max_length=256,
        train_per_client=None, eval_per_client=None, rounds=50, local_epochs=1, batch_size=32,
        lr=1e-3, patience=5, seeds=(0, 1, 2),
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named ``name``, else ``$FEDLIB_PROFILE``, else ``cpu``."""
    name = name or os.environ.get("FEDLIB_PROFILE", "cpu")
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; choose one of {sorted(PROFILES)} (FEDLIB_PROFILE)"
        ) from None


# --------------------------------------------------------------------------------------
# The Hugging Face hub: is it switched off, and can it be reached?
# --------------------------------------------------------------------------------------
HUB_PROBE_SECONDS = 3.0


def env_flag(*names: str) -> str | None:
    """The first of the environment variables ``names`` set to a true value (``1``, ``true``, ``yes``,
    ``on``), as ``NAME=value``; ``None`` when none is."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.lower() in {"1", "true", "yes", "on"}:
            return f"{name}={value}"
    return None


def hub_endpoint() -> str:
    """The Hugging Face hub's address (``HF_ENDPOINT``, else ``https://huggingface.co``)."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_reachable(timeout: float = HUB_PROBE_SECONDS) -> bool:
    """Whether the hub answers an HTTP ``HEAD`` within ``timeout`` seconds (name lookup included).

    Any HTTP answer, even an error status, counts as reachable; proxies are honoured as ``urllib``
    honours them (``HTTPS_PROXY`` ...). The probe runs in a daemon thread so that a hanging name
    lookup cannot hold the caller longer than ``timeout``; a refused connection returns at once.
    """
    import threading
    import urllib.error
    import urllib.request

    done, answer = threading.Event(), []

    def probe() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(hub_endpoint(), method="HEAD"), timeout=timeout).close()
            answer.append(True)
        except urllib.error.HTTPError:
            answer.append(True)  # an answer, even 4xx/5xx: the hub is there
        except (OSError, ValueError):
            answer.append(False)
        finally:
            done.set()

    threading.Thread(target=probe, name="fedlib-hub-probe", daemon=True).start()
    return done.wait(timeout) and answer[0]
