"""The configuration of one experiment, validated before any work starts.

A config names *what* to run (task, languages, paradigm, method) and may override any budget of the
profile; :meth:`ExperimentConfig.resolved` fills the rest from the profile so that the artifact records
every value that shaped the result, and the config hash identifies it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from fedlib.config import PROFILES, get_profile
from fedlib.methods import METHODS
from fedlib.protocol import PROTOCOLS
from fedlib.runtime import PRECISIONS

PARADIGMS = ("monolingual", "centralized", "federated", "federated-full", "federated-lora")
PARTITIONS = ("language", "dirichlet", "iid")
STRATEGIES = ("fedavg", "fedprox", "fedadam")
ENGINES = ("inprocess", "simulation", "deployment")

# Paradigms that fix the tuning method (the paper's federated baselines).
_PARADIGM_METHOD = {"federated-full": "full", "federated-lora": "lora"}

# Fields added after result artifacts were committed. The config hash (an artifact's identity) is
# the hash of ``to_json()``; these fields enter that JSON only when set to something other than
# their default, so every config that leaves them alone keeps the hash (and artifact) it had.
_HASH_WHEN_SET = ("min_successful_clients", "dp_clipping_norm", "dp_noise_multiplier", "data_fingerprint")
# Fields whose value decides the result but whose *legacy* value (the only one before the field
# existed) is left out of the hash, so earlier artifacts keep their identity.
_HASH_UNLESS = {"precision": "fp32", "protocol": 1}
# Fields that say where a run computes, not what it computes: recorded, never part of the identity
# (a GPU reader loads the artifact a CPU made from the same config).
_NOT_IDENTITY = ("device",)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    task: str
    paradigm: str = "federated"
    method: str = "prompt"
    languages: tuple[str, ...] | None = None  # None = every language of the task
    profile: str | None = None  # None = $FEDLIB_PROFILE or "cpu"
    backbone: str | None = None  # None = $FEDLIB_BACKBONE or the profile's
    seed: int = 0
    # Budgets: None = the profile's value.
    rounds: int | None = None
    local_epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    max_length: int | None = None
    train_per_client: int | None = None
    eval_per_client: int | None = None  # test rows per client
    val_per_client: int | None = None
    patience: int | None = None
    num_virtual_tokens: int | None = None
    lora_rank: int = 8
    # Federation.
    # One client per language; or each language split into clients_per_language clients, with
    # Dirichlet label skew ("dirichlet") or uniformly at random into equal sizes ("iid").
    partition: str = "language"
    clients_per_language: int = 1
    alpha: float = 0.5
    strategy: str = "fedavg"
    proximal_mu: float = 0.01
    server_lr: float = 0.1
    engine: str = "inprocess"
    num_threads: int | None = None
    # Reliability and privacy. Added after artifacts existed: see _HASH_WHEN_SET.
    min_successful_clients: int | None = None  # per round and stage; None = at least one
    dp_clipping_norm: float | None = None  # client-side clipping of the update; None = no DP
    dp_noise_multiplier: float = 0.0  # Gaussian noise std = multiplier * clipping norm / clients
    # Where and how precisely it computes (fedlib.runtime); None = $FEDLIB_PRECISION / $FEDLIB_DEVICE,
    # else the profile's precision and ``auto`` device.
    precision: str | None = None
    device: str | None = None
    protocol: int | None = None  # data protocol (fedlib.protocol); None = the profile's
    # A folder task's files (fedlib.data.data_fingerprint), filled when resolved: a changed file is a new
    # identity, not an old artifact. Shipped tasks leave it None (their files are checked by SHA256SUMS).
    data_fingerprint: str | None = None

    @property
    def num_clients(self) -> int | None:
        """How many clients this config has, without loading data (``None`` until languages are set)."""
        if self.languages is None:
            return None
        return len(self.languages) * (self.clients_per_language if self.partition != "language" else 1)

    def resolved(self) -> ResolvedConfig:
        """A copy with every ``None`` budget filled from the profile, and validated.

        The one place that reads the environment (``$FEDLIB_PROFILE``, ``$FEDLIB_BACKBONE``,
        ``$FEDLIB_PRECISION``, ``$FEDLIB_DEVICE``): entry points call it once and pass the
        :class:`ResolvedConfig` on.
        """
        from fedlib.data import canonical_task_name, data_fingerprint, get_task

        profile = get_profile(self.profile)
        fill: dict[str, Any] = {"profile": profile.name, "task": canonical_task_name(self.task)}
        if self.data_fingerprint is None:
            fill["data_fingerprint"] = data_fingerprint(fill["task"])
        for field in ("rounds", "local_epochs", "lr", "batch_size", "max_length", "train_per_client",
                      "eval_per_client", "val_per_client", "patience", "num_virtual_tokens", "protocol"):
            if getattr(self, field) is None:
                fill[field] = profile.budget(self.task, field)
        if self.backbone is None:
            fill["backbone"] = os.environ.get("FEDLIB_BACKBONE") or profile.backbone
        if self.paradigm in _PARADIGM_METHOD:
            fill["method"] = _PARADIGM_METHOD[self.paradigm]
        from fedlib.runtime import resolve_device, resolve_precision

        device = resolve_device(self.device, expect_gpu=profile.name == "paper")
        fill["device"] = device
        fill["precision"] = resolve_precision(
            self.precision or os.environ.get("FEDLIB_PRECISION") or profile.precision, device)
        if self.languages is not None:
            fill["languages"] = tuple(self.languages)
        else:
            fill["languages"] = tuple(get_task(fill["task"]).languages)
        return ResolvedConfig(**{**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, **fill})

    def validate(self) -> None:
        """Raise one clear ``ValueError`` listing every problem, before any work starts."""
        problems = []

        def choice(name, value, options):
            if value not in options:
                problems.append(f"{name}={value!r} is not one of {list(options)}")

        choice("paradigm", self.paradigm, PARADIGMS)
        choice("method", self.method, METHODS)
        choice("partition", self.partition, PARTITIONS)
        choice("strategy", self.strategy, STRATEGIES)
        choice("engine", self.engine, ENGINES)
        if self.precision is not None:
            choice("precision", self.precision, PRECISIONS)
        if self.protocol is not None:
            choice("protocol", self.protocol, PROTOCOLS)
        if self.profile is not None:
            choice("profile", self.profile, PROFILES)
        for name in ("rounds", "local_epochs", "batch_size", "max_length", "clients_per_language",
                     "lora_rank", "num_virtual_tokens", "patience", "train_per_client", "eval_per_client",
                     "val_per_client"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{name} must be a positive integer (got {value!r})")
        for name in ("lr", "alpha", "server_lr"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                problems.append(f"{name} must be > 0 (got {value!r})")
        if self.min_successful_clients is not None:
            value = self.min_successful_clients
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"min_successful_clients must be a positive integer or None (got {value!r})")
            elif self.languages is not None:
                n = self.num_clients
                if value > n:
                    problems.append(f"min_successful_clients={value} is more than the {n} clients of this "
                                    "config (languages x clients_per_language)")
        if self.dp_clipping_norm is not None and not self.dp_clipping_norm > 0:
            problems.append(f"dp_clipping_norm must be > 0 or None (got {self.dp_clipping_norm!r})")
        if not (isinstance(self.dp_noise_multiplier, (int, float)) and self.dp_noise_multiplier >= 0):
            problems.append(f"dp_noise_multiplier must be >= 0 (got {self.dp_noise_multiplier!r})")
        elif self.dp_noise_multiplier > 0 and self.dp_clipping_norm is None:
            problems.append("dp_noise_multiplier > 0 needs dp_clipping_norm (the noise is calibrated to it)")
        if self.dp_clipping_norm is not None and not self.paradigm.startswith("federated"):
            problems.append(f"differential privacy (dp_clipping_norm) applies to federated paradigms, "
                            f"not {self.paradigm!r}")
        if self.proximal_mu < 0:
            problems.append(f"proximal_mu must be >= 0 (got {self.proximal_mu!r})")
        if self.partition == "language" and self.clients_per_language != 1:
            problems.append("clients_per_language > 1 needs partition='dirichlet' or 'iid'")
        if self.languages is not None:
            from fedlib.data import get_task, is_folder_task

            try:
                spec = get_task(self.task)
            except (KeyError, ValueError) as err:
                problems.append(str(err))
            else:  # shipped languages, and for a task with a hub source the hub's (fedlib.data.tasks)
                unknown = [lang for lang in self.languages if not spec.accepts(lang)]
                if unknown:
                    problems.append(f"languages {unknown} are not in task {self.task!r} ({spec.valid_languages()})")
                if not self.languages:
                    problems.append("languages is empty")
                if len(set(self.languages)) != len(self.languages):
                    problems.append("languages has duplicates")
                if self.is_federated and is_folder_task(self.task) and self.num_clients < 2:
                    problems.append(
                        f"a federated run needs at least two clients, and {len(self.languages)} language(s) "
                        f"({', '.join(self.languages)}) of the folder's {', '.join(spec.languages)} make "
                        f"{self.num_clients}: choose two or more languages (or partition='dirichlet' or 'iid' with "
                        "clients_per_language >= 2), or run paradigm='monolingual'")
        if problems:
            raise ValueError("invalid experiment config:\n  - " + "\n  - ".join(problems))

    @property
    def is_federated(self) -> bool:
        return self.paradigm.startswith("federated")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["languages"] is not None:
            data["languages"] = list(data["languages"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExperimentConfig:
        data = dict(data)
        if data.get("languages") is not None:
            data["languages"] = tuple(data["languages"])
        return cls(**data)

    def to_json(self) -> str:
        """JSON of every field: how a config travels between processes (run configs, caches)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def identity_json(self) -> str:
        """JSON of what decides the result: the fields that name or shape it, less those added later
        at their old value (:data:`_HASH_WHEN_SET`, :data:`_HASH_UNLESS`) and :data:`_NOT_IDENTITY`."""
        data = self.to_dict()
        for field in dataclasses.fields(self):
            name = field.name
            if (name in _NOT_IDENTITY or (name in _HASH_WHEN_SET and data[name] == field.default)
                    or (name in _HASH_UNLESS and data[name] in (_HASH_UNLESS[name], None))):
                del data[name]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ExperimentConfig:
        return cls.from_dict(json.loads(text))

    def config_hash(self) -> str:
        """Short hash of the resolved config: the identity of its artifact."""
        return hashlib.sha256(self.resolved().identity_json().encode()).hexdigest()[:12]

    def run_name(self) -> str:
        from fedlib.data import task_file_name

        cfg = self.resolved()
        tag = cfg.paradigm if cfg.paradigm != "federated" or cfg.partition == "language" else "federated-noniid"
        if cfg.partition == "iid":  # new with iid sub-clients: every federated paradigm says how many
            tag = f"{cfg.paradigm}-iid{cfg.clients_per_language}"
        return f"{task_file_name(cfg.task)}-{tag}-{cfg.method}-s{cfg.seed}-{self.config_hash()}"


_RESOLVED_FIELDS = ("profile", "backbone", "rounds", "local_epochs", "lr", "batch_size", "max_length", "patience",
                    "num_virtual_tokens", "protocol", "precision", "device", "languages")


@dataclasses.dataclass(frozen=True)
class ResolvedConfig(ExperimentConfig):
    """An :class:`ExperimentConfig` whose every value is filled from its profile and validated.

    What downstream code (clients, apps, training, artifacts) takes: resolving it again returns it
    unchanged and reads nothing from the environment, so a run's settings are decided once, where it
    enters (the command line, :func:`fedlib.paradigms.run_experiment`, the ServerApp). It is also
    what travels to clients as JSON. ``dataclasses.replace`` on one validates the result again.
    """

    def __post_init__(self):
        missing = [name for name in _RESOLVED_FIELDS if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a resolved config needs {missing}: build it with ExperimentConfig(...).resolved()")
        expected = _PARADIGM_METHOD.get(self.paradigm)
        if expected is not None and self.method != expected:
            raise ValueError(f"paradigm {self.paradigm!r} trains method {expected!r}, not {self.method!r}")
        self.validate()

    def resolved(self) -> ResolvedConfig:
        return self
