"""The deployment engine: a real SuperLink + SuperNodes as local processes, driven by `flwr run`.

It must give the in-process engine's aggregates exactly, and leave no process or port behind, on
success and on failure.
"""

from __future__ import annotations

import json
import os
import socket
import time
import tomllib

import pytest
from fedtest import assert_same_run

from fedlib.config import REPO_ROOT
from fedlib.experiment import ExperimentConfig
from fedlib.federated import deployment, run_federated
from fedlib.federated.runconfig import CONFIG_KEY, config_to_run_config
from fedlib.federated.supervisor import ProcessRecord, free_ports

BASE = dict(task="sib200", languages=("eng_Latn", "hau_Latn"), profile="smoke", rounds=1, num_threads=1)


def _port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port (TIME_WAIT leftovers of closed connections are fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


def _assert_cleaned_up(record: ProcessRecord) -> None:
    alive = record.alive()
    assert not alive, f"processes left running: {alive}"
    busy = [port for port in record.ports if not _port_free(port)]
    assert not busy, f"ports left open: {busy}"


def test_staged_app_accepts_the_run_config_and_leaves_pyproject_alone(tmp_path):
    from flwr.cli.build import build_fab_from_disk
    from flwr.common.config import flatten_dict, fuse_dicts, get_fab_config

    before = (REPO_ROOT / "pyproject.toml").read_bytes()
    app = deployment.stage_app(tmp_path / "app")
    assert (REPO_ROOT / "pyproject.toml").read_bytes() == before
    staged = tomllib.loads((app / "pyproject.toml").read_text())
    original = tomllib.loads(before.decode())
    assert staged["tool"]["flwr"]["app"]["components"] == original["tool"]["flwr"]["app"]["components"]
    assert (app / "fedlib" / "federated" / "server_app.py").read_bytes() == \
        (REPO_ROOT / "fedlib" / "federated" / "server_app.py").read_bytes()

    # What the SuperLink checks in StartRun: every override key is declared by the FAB's config.
    cfg = ExperimentConfig(**BASE).resolved()
    overrides_file = deployment.write_run_config(tmp_path / "rc.toml", cfg, tmp_path / "h.json")
    overrides = tomllib.loads(overrides_file.read_text())
    assert overrides[CONFIG_KEY] == config_to_run_config(cfg)[CONFIG_KEY]  # JSON survives TOML quoting
    fab_config = get_fab_config(build_fab_from_disk(app))
    fuse_dicts(flatten_dict(fab_config["tool"]["flwr"]["app"]["config"]), overrides, check_keys=True)


def test_wrong_number_of_nodes_is_refused_before_any_process_starts():
    before = deployment.last_deployment
    with pytest.raises(ValueError, match="num_clients=3, but the experiment has 2 clients"):
        deployment.run_deployment(ExperimentConfig(engine="deployment", **BASE), 3)
    assert deployment.last_deployment is before  # nothing was started


def test_failure_raises_with_logs_and_stops_everything():
    cfg = ExperimentConfig(engine="deployment", **BASE)
    with pytest.raises(RuntimeError) as err:
        deployment.run_deployment(cfg, 2, timeout_s=6, stop_grace_s=5)
    message = str(err.value)
    assert "deployment run failed" in message and "----- superlink" in message
    _assert_cleaned_up(deployment.last_deployment)


def test_deployment_matches_inprocess_and_cleans_up():
    deployed = run_federated(ExperimentConfig(engine="deployment", **BASE))
    record = deployment.last_deployment
    _assert_cleaned_up(record)
    # SuperLink, 2 SuperNodes, `flwr run`, and what they started (SuperExecs, ServerApp, ClientApps).
    assert len(record.processes) > 4

    assert set(deployed["best"]["per_language"]) == {"eng_Latn", "hau_Latn"}
    assert [r["round"] for r in deployed["rounds"]] == [1]
    assert not deployed["failures"]

    assert_same_run(run_federated(ExperimentConfig(engine="inprocess", **BASE)), deployed)


def _write_test_pki(folder):
    """A throwaway CA, a SuperLink certificate for 127.0.0.1, and two SuperNode key pairs."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=1))

    def certificate(subject, issuer, public_key, signer, *extensions):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(valid["not_valid_before"]).not_valid_after(valid["not_valid_after"]))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedlib test CA")])
    ca = certificate(ca_name, ca_name, ca_key.public_key(), ca_key,
                     (x509.BasicConstraints(ca=True, path_length=None), True))
    cert = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name,
                       key.public_key(), ca_key,
                       (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False))
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(cert.public_bytes(pem))
    (folder / "server.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    keys = []
    for i in range(2):
        node = ec.generate_private_key(ec.SECP384R1())
        (folder / f"node{i}").write_bytes(node.private_bytes(pem, serialization.PrivateFormat.OpenSSH,
                                                             serialization.NoEncryption()))
        (folder / f"node{i}.pub").write_bytes(node.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
        keys.append(deployment.NodeKeys(folder / f"node{i}", folder / f"node{i}.pub"))
    return deployment.TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key"), keys


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("FEDLIB_SKIP_TLS_RUN")),
                    reason="FEDLIB_SKIP_TLS_RUN is set (another ~70-150 s deployment)")
def test_deployment_with_tls_and_supernode_auth(tmp_path):
    tls, keys = _write_test_pki(tmp_path)
    cfg = ExperimentConfig(engine="deployment", **BASE)
    history = deployment.run_deployment(cfg, 2, tls=tls, supernode_keys=keys)
    assert set(history["best"]["per_language"]) == {"eng_Latn", "hau_Latn"}
    assert not history["failures"]
    record = deployment.last_deployment
    assert "--enable-supernode-auth" in record.commands["superlink"]
    assert "--insecure" not in record.commands["superlink"]
    _assert_cleaned_up(record)


def test_supernode_without_valid_keys_is_refused(tmp_path):
    """TLS + SuperNode auth: a registered node joins; unregistered, keyless and plain-text ones are refused.

    Every process (SuperLink, `flwr` CLI calls, SuperNodes and what they start) is stopped by PID and
    no port is left open.
    """
    (tmp_path / "pki").mkdir()
    tls, keys = _write_test_pki(tmp_path / "pki")
    base = tmp_path / "work"
    record = ProcessRecord(workdir=base)
    procs = deployment.FlowerProcesses(record, deployment.child_env(base))
    scripts = deployment.scripts_dir()
    deadline = time.monotonic() + 180
    try:
        link_port, *node_ports = free_ports(5)
        record.ports = [link_port, *node_ports]
        procs.start("superlink", deployment.superlink_command(scripts, link_port, tls, supernode_auth=True))
        procs.wait_listening("superlink", link_port, deadline)
        cli_home = base / "cli" / "flwr-home"
        deployment.write_flower_config(cli_home, link_port, tls)
        deployment.register_supernode(procs, scripts, cli_home, keys[0], "register-0", deadline)

        def node(i, **kwargs):
            return deployment.supernode_command(scripts, link_port, node_ports[i], "partition-id=0 num-partitions=1",
                                                tls, max_wait_s=5, **kwargs)

        valid = procs.start("registered", node(0, private_key=keys[0].private_key))
        intruders = {
            "unregistered-key": (procs.start("unregistered-key", node(1, private_key=keys[1].private_key)),
                                 "Failed to activate SuperNode"),
            "no-key": (procs.start("no-key", node(2)), "must be registered"),
            "plain-text": (procs.start("plain-text", node(3, insecure=True)), "could not establish a connection"),
        }
        while any(p.poll() is None for p, _ in intruders.values()):
            assert time.monotonic() < deadline, f"intruders still running:\n{procs.tails()}"
            time.sleep(0.25)
        for name, (proc, expected) in intruders.items():
            log = record.logs[name].read_text(errors="replace")
            assert proc.returncode != 0 and expected in log, f"{name} was not refused:\n{log[-2000:]}"

        # The SuperLink knows exactly one node, the registered one, and it is online.
        while True:
            listing = procs.start(f"list-{len(record.logs)}", [str(scripts / "flwr"), "supernode", "list",
                                                                deployment.CONNECTION, "--format", "json"],
                                  flwr_home=cli_home)
            assert listing.wait(timeout=120) == 0
            text = record.logs[next(reversed(record.logs))].read_text()
            nodes = json.loads(text[text.index("{"):])["nodes"]
            if [n["status"] for n in nodes] == ["online"] or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert [n["status"] for n in nodes] == ["online"], nodes
        assert valid.poll() is None, "the registered SuperNode should still be connected"
    finally:
        procs.stop_all(5.0)
    _assert_cleaned_up(record)
