"""The ``deployment`` engine: a real SuperLink and one SuperNode per client, as local processes.

:func:`run_deployment` starts, on loopback and on free ports,

* ``flower-superlink`` (Fleet, Control and Runtime APIs share one HTTP port in Flower 1.41),
* ``flower-supernode`` per client with ``--node-config "partition-id=i num-partitions=n"``,

then submits the run with ``flwr run <app> <connection> --run-config <overrides.toml> --stream``
and waits for the ServerApp to write its result (``result-path``). Every process it started, and
every process those started (SuperExec, ``flwr-serverapp``, ``flwr-clientapp``), is stopped in a
``finally``: SIGTERM to each process group, SIGKILL after a grace period (see
:mod:`fedlib.federated.supervisor`).

Isolation. Each process gets its own ``FLWR_HOME`` inside a temporary folder, so the Flower config
file (``config.toml`` with the SuperLink connection), installed FABs, credentials and the
update-check cache never touch ``~/.flwr``; telemetry, the update check and runtime dependency
installation (``uv sync``) are switched off. The folder (with one log per process) is removed
afterwards unless ``workdir`` is given.

Why the app is staged. ``flwr run`` builds a FAB from a folder. Submitting from a staged copy
(the project's ``pyproject.toml`` and the ``fedlib`` package, byte for byte) keeps ``flwr run``'s
config migration away from the real ``pyproject.toml``, avoids walking the 2 GB ``.venv``, and makes
sure ``fedlib-config`` is declared in ``[tool.flwr.app.config]`` (the SuperLink rejects undeclared
``--run-config`` keys). The apps import ``fedlib`` from the installed FAB, so the datasets, caches and
backbone assets are passed by absolute path (``FEDLIB_DATA``, ``FEDLIB_CACHE``, ``FEDLIB_ASSETS``,
``FEDLIB_RESULTS``).

Security. Insecure (plain HTTP) by default. Pass ``tls=TlsFiles(...)`` to serve every API over TLS
(the CA also goes to the SuperNodes and the CLI connection), and additionally ``supernode_keys`` (one
EC private/public OpenSSH key pair per client) to enable SuperNode authentication: the public keys are
registered with ``flwr supernode register`` before the SuperNodes start.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fedlib.federated.result_file import result_path, wait_for_result
from fedlib.federated.runconfig import CHECKPOINT_KEY, CONFIG_KEY, RESULT_KEY, config_to_run_config
from fedlib.federated.supervisor import LOOPBACK, STOP_GRACE_S, ProcessRecord, Supervisor, free_ports

if TYPE_CHECKING:
    from fedlib.experiment import ExperimentConfig

CONNECTION = "fedlib-deployment"  # name of the SuperLink connection in the temporary Flower config
RUN_END_GRACE_S = 10.0  # how long a finished `flwr run` may take to leave its result


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS: the CA that signed the SuperLink certificate, and that certificate + key.

    The certificate must name ``127.0.0.1`` (IP SAN): SuperNodes, the CLI and the SuperLink's own
    SuperExec all connect to that address.
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path


@dataclasses.dataclass(frozen=True)
class NodeKeys:
    """A SuperNode's EC key pair (OpenSSH format, e.g. ``ssh-keygen -t ecdsa -b 384``)."""

    private_key: Path
    public_key: Path


last_deployment: ProcessRecord | None = None  # what the latest run_deployment started, for checks


class FlowerProcesses(Supervisor):
    """Supervised Flower processes, each with a ``FLWR_HOME`` of its own unless given one (the CLI's)."""

    def start(self, name: str, command: list[str], *, flwr_home: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        home = flwr_home or self.folder(name) / "flwr-home"
        return super().start(name, command, env={**(env or {}), "FLWR_HOME": str(home)})


def scripts_dir() -> Path:
    """Folder of the console scripts of this interpreter's environment (flwr, flower-superlink, ...)."""
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in candidates:
        if (folder / "flower-superlink").exists() or (folder / "flower-superlink.exe").exists():
            return folder
    found = shutil.which("flower-superlink")
    if found is None:
        raise RuntimeError("flower-superlink is not installed in this environment (pip install 'flwr==1.41.*')")
    return Path(found).parent


# --------------------------------------------------------------------------------------------------
# the app, the Flower config and the run config


def _project_root() -> Path:
    from fedlib.config import REPO_ROOT

    return REPO_ROOT


def stage_app(dest: Path, project_root: Path | None = None) -> Path:
    """A Flower App folder for ``flwr run``: the project's pyproject.toml + the ``fedlib`` package.

    ``fedlib-config`` is declared in ``[tool.flwr.app.config]`` (empty: the per-field keys keep
    working) so that ``--run-config`` may set it; ``[tool.flwr.federations]`` is dropped.
    """
    import tomllib

    import tomli_w

    import fedlib

    root = Path(project_root or _project_root())
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    flwr = config.get("tool", {}).get("flwr", {})
    if "app" not in flwr:
        raise RuntimeError(f"{root / 'pyproject.toml'} has no [tool.flwr.app]; flwr run cannot run it")
    flwr.pop("federations", None)
    app_config = flwr["app"].setdefault("config", {})
    app_config.setdefault(CONFIG_KEY, "")
    app_config.setdefault(RESULT_KEY, "")
    app_config.setdefault(CHECKPOINT_KEY, "")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    (dest / "pyproject.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    package = Path(fedlib.__file__).resolve().parent
    shutil.copytree(package, dest / "fedlib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    return dest


def write_flower_config(flwr_home: Path, port: int, tls: TlsFiles | None = None) -> Path:
    """The Flower config file (``$FLWR_HOME/config.toml``) naming this SuperLink as the default."""
    import tomli_w

    connection: dict = {"address": f"{LOOPBACK}:{port}"}
    if tls is None:
        connection["insecure"] = True
    else:
        connection["root-certificates"] = str(Path(tls.ca_cert).resolve())
    flwr_home.mkdir(parents=True, exist_ok=True)
    path = flwr_home / "config.toml"
    path.write_text(tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: connection}}),
                    encoding="utf-8")
    return path


def write_run_config(path: Path, cfg: ExperimentConfig, result: Path,
                     checkpoint_dir: Path | None = None) -> Path:
    """``--run-config`` overrides as a TOML file: no shell or TOML quoting of the JSON to get wrong."""
    import tomli_w

    overrides = {**config_to_run_config(cfg), RESULT_KEY: str(result)}
    if checkpoint_dir is not None:
        overrides[CHECKPOINT_KEY] = str(Path(checkpoint_dir).resolve())
    path.write_text(tomli_w.dumps(overrides), encoding="utf-8")
    return path


def child_env(workdir: Path) -> dict[str, str]:
    """The environment of every process: this one's, with Flower isolated and fedlib's folders absolute."""
    from fedlib.config import asset_dirs, cache_dir, data_dir, results_dir

    env = dict(os.environ)
    for key in [k for k in env if k.startswith("FLWR_INTERNAL_")]:
        del env[key]  # would start legacy gRPC servers on fixed ports
    scripts = str(scripts_dir())
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")  # SuperLink/SuperNode exec flower-superexec
    env["PYTHONUNBUFFERED"] = "1"
    env["FLWR_TELEMETRY_ENABLED"] = "0"
    env["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] = "1"  # no `uv sync`: use this environment
    env.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "0.2")
    env.setdefault("FEDLIB_PROGRESS", "0")
    # The apps import fedlib from the installed FAB, whose folder is not the repository.
    env["FEDLIB_DATA"] = str(data_dir().resolve())
    env["FEDLIB_CACHE"] = str(cache_dir().resolve())
    env["FEDLIB_RESULTS"] = str(results_dir().resolve())
    env["FEDLIB_ASSETS"] = os.pathsep.join(str(Path(p).resolve()) for p in asset_dirs())
    env["TMPDIR"] = str(workdir / "tmp")
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    return env


# --------------------------------------------------------------------------------------------------
# the engine


def superlink_command(scripts: Path, port: int, tls: TlsFiles | None, *, supernode_auth: bool = False) -> list[str]:
    """``flower-superlink`` on loopback: TLS when ``tls`` is given (else ``--insecure``)."""
    command = [str(scripts / "flower-superlink"), "--host", LOOPBACK, "--port", str(port),
               "--isolation", "subprocess", "--disable-runtime-dependency-installation"]
    if tls is None:
        command.append("--insecure")
    else:
        command += ["--ssl-ca-certfile", str(tls.ca_cert), "--ssl-certfile", str(tls.server_cert),
                    "--ssl-keyfile", str(tls.server_key)]
    if supernode_auth:
        command.append("--enable-supernode-auth")
    return command


def supernode_command(scripts: Path, link_port: int, port: int, node_config: str, tls: TlsFiles | None,
                      private_key: Path | None = None, *, max_wait_s: float = 600,
                      insecure: bool | None = None) -> list[str]:
    """``flower-supernode`` connecting to the SuperLink on ``link_port``.

    ``insecure`` defaults to "no TLS files given"; passing ``True`` with a TLS SuperLink is how a test
    checks that a plain-text node is refused.
    """
    command = [str(scripts / "flower-supernode"), "--superlink", f"{LOOPBACK}:{link_port}",
               "--host", LOOPBACK, "--port", str(port), "--isolation", "subprocess",
               "--node-config", node_config, "--max-wait-time", str(int(max_wait_s))]
    if insecure if insecure is not None else tls is None:
        command.append("--insecure")
    else:
        command += ["--root-certificates", str(tls.ca_cert)]
    if private_key is not None:
        command += ["--auth-supernode-private-key", str(private_key)]
    return command


def register_supernode(procs: FlowerProcesses, scripts: Path, cli_home: Path, keys: NodeKeys, name: str,
                       deadline: float) -> None:
    """``flwr supernode register <public key>``: only registered keys may join an auth SuperLink."""
    proc = procs.start(name, [str(scripts / "flwr"), "supernode", "register", str(keys.public_key), CONNECTION],
                       flwr_home=cli_home)
    try:
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{name} did not finish") from None
    if rc != 0:
        raise RuntimeError(f"{name}: registering the public key {keys.public_key} failed (code {rc})")


def _run_watch(procs: FlowerProcesses, deadline: float, timeout_s: float):
    """The check to poll the result with: raises when the SuperLink or a SuperNode exits, when
    ``flwr run`` fails or ends without a result, or when ``deadline`` passes."""
    infra = [n for n in procs.procs if n == "superlink" or n.startswith("supernode-")]
    run_proc = procs.procs["flwr-run"]
    run_ended_at: float | None = None

    def check() -> None:
        nonlocal run_ended_at
        now = time.monotonic()
        procs.track()
        for name in infra:
            if procs.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited (code {procs.procs[name].returncode}) during the run")
        if run_proc.poll() is not None:
            if run_proc.returncode != 0:
                raise RuntimeError(f"`flwr run` failed (code {run_proc.returncode})")
            run_ended_at = run_ended_at or now
            if now - run_ended_at > RUN_END_GRACE_S:
                raise RuntimeError("the run ended without writing a result (see the ServerApp log in flwr-run.log)")
        if now > deadline:
            raise TimeoutError(f"no result after {timeout_s:.0f} s")

    return check


def run_deployment(
    cfg: ExperimentConfig,
    num_clients: int,
    *,
    timeout_s: float = 600,
    tls: TlsFiles | None = None,
    supernode_keys: Sequence[NodeKeys] | None = None,
    workdir: str | Path | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    checkpoint_dir: str | Path | None = None,
) -> dict:
    """Run ``cfg`` on a local SuperLink + ``num_clients`` SuperNodes; return the round history.

    ``tls``: serve every SuperLink API over TLS (else ``--insecure``). ``supernode_keys``: one key
    pair per client; enables SuperNode authentication (needs ``tls``). ``workdir``: keep the logs and
    Flower homes there instead of in a temporary folder that is removed afterwards.
    ``checkpoint_dir``: the ServerApp's round checkpoints (resumed from when present).

    Raises ``RuntimeError`` (with the tail of every process's log) if a process dies, the run ends
    without a result, or nothing arrives within ``timeout_s``. Every process started is stopped
    before this returns or raises.
    """
    global last_deployment
    from fedlib.client_datasets import build_clients

    cfg = cfg.resolved()
    clients = build_clients(cfg)
    if num_clients != len(clients):  # checked before any process starts
        raise ValueError(f"num_clients={num_clients}, but the experiment has {len(clients)} clients "
                         f"({', '.join(c.name for c in clients)}): one SuperNode per client")
    if supernode_keys is not None:
        if tls is None:
            raise ValueError("SuperNode authentication needs TLS: pass tls=TlsFiles(...) too")
        if len(supernode_keys) != num_clients:
            raise ValueError(f"need one key pair per client ({num_clients}), got {len(supernode_keys)}")
    # The processes run in their own folders: relative paths would not resolve there.
    if tls is not None:
        tls = TlsFiles(*(Path(f).resolve() for f in (tls.ca_cert, tls.server_cert, tls.server_key)))
    if supernode_keys is not None:
        supernode_keys = [NodeKeys(Path(k.private_key).resolve(), Path(k.public_key).resolve())
                          for k in supernode_keys]
    with tempfile.TemporaryDirectory(prefix="fedlib-deploy-") as tmp:
        base = Path(workdir).resolve() if workdir is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        record = ProcessRecord(workdir=base)
        event = record.event
        last_deployment = record
        scripts = scripts_dir()
        procs = FlowerProcesses(record, child_env(base))
        deadline = record.started + timeout_s
        result = result_path(base / "result")
        for stale in (base / "result", base / "app"):  # a reused workdir must not answer for this run
            shutil.rmtree(stale, ignore_errors=True)
        result.parent.mkdir(parents=True)
        try:
            link_port, *node_ports = free_ports(1 + num_clients)
            record.ports = [link_port, *node_ports]

            # SuperLink: Fleet + Control + Runtime HTTP APIs on one port; ServerApps in subprocesses.
            command = superlink_command(scripts, link_port, tls, supernode_auth=supernode_keys is not None)
            procs.start("superlink", command)
            procs.wait_listening("superlink", link_port, deadline)
            event("superlink listening")

            # The CLI's Flower config: one connection to this SuperLink, in a throwaway FLWR_HOME.
            cli_home = base / "cli" / "flwr-home"
            write_flower_config(cli_home, link_port, tls)
            if supernode_keys is not None:
                for i, keys in enumerate(supernode_keys):
                    register_supernode(procs, scripts, cli_home, keys, f"register-{i}", deadline)

            for i, port in enumerate(node_ports):
                command = supernode_command(
                    scripts, link_port, port, f"partition-id={i} num-partitions={num_clients}", tls,
                    None if supernode_keys is None else supernode_keys[i].private_key, max_wait_s=timeout_s,
                )
                procs.start(f"supernode-{i}", command)

            app_dir = stage_app(base / "app")
            overrides = write_run_config(base / "run_config.toml", cfg, result, checkpoint_dir)
            # --stream keeps the CLI attached until the run ends, and logs the ServerApp's output.
            run_cmd = [str(scripts / "flwr"), "run", str(app_dir), CONNECTION,
                       "--run-config", str(overrides), "--stream"]
            procs.start("flwr-run", run_cmd, flwr_home=cli_home)
            history = wait_for_result(result, _run_watch(procs, deadline, timeout_s))
            event("result written")
        except Exception as err:
            procs.stop_all(stop_grace_s)
            raise RuntimeError(
                f"deployment run failed: {type(err).__name__}: {err}\n"
                f"workdir: {base}{' (removed)' if workdir is None else ''}\n{procs.tails()}"
            ) from err
        finally:
            procs.stop_all(stop_grace_s)  # no-op the second time round
            event("all stopped")
        return history
