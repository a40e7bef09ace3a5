"""Local processes started, watched and stopped together, with a log file each.

A :class:`Supervisor` starts every command in a session of its own (so that a signal to its process
group reaches what it starts) and records every process it started, and every descendant of those
it sees while it tracks them, as ``psutil.Process`` objects: they know their start time, so a pid
reused by another process is never mistaken for ours (nor signalled). :meth:`Supervisor.stop_all`
stops them all: SIGTERM to each process group and process, SIGKILL to what is left after a grace
period. POSIX only (process groups).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"
STOP_GRACE_S = 10.0
POLL_S = 0.25
LOG_TAIL_LINES = 40
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct free ports: bind port 0 ``count`` times, read the ports, close."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _is_running(proc: psutil.Process) -> bool:
    """Still running, and still the process that was recorded (zombies count as gone)."""
    try:
        return proc.is_running() and proc.status() not in _GONE
    except psutil.Error:
        return False


def _descendants(roots: list[int]) -> set[int]:
    """Every descendant of the processes ``roots``, from one pass over the process table.

    (``psutil.Process.children(recursive=True)`` would scan the whole table once per root, on every poll.)
    """
    children: dict[int, list[int]] = {}
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _command_name(proc: psutil.Process) -> str:
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return "?"
    return " ".join(Path(a).name for a in argv[:3] if a)


@dataclasses.dataclass
class ProcessRecord:
    """What a :class:`Supervisor` started and saw: kept after it is done, for checks."""

    workdir: Path
    ports: list[int] = dataclasses.field(default_factory=list)
    # Every process seen, children included (a psutil.Process knows its start time: pids get reused).
    processes: dict[int, psutil.Process] = dataclasses.field(default_factory=dict)
    logs: dict[str, Path] = dataclasses.field(default_factory=dict)
    commands: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    events: list[tuple[float, str]] = dataclasses.field(default_factory=list)  # (seconds, what)
    started: float = dataclasses.field(default_factory=time.monotonic)

    def event(self, what: str) -> None:
        self.events.append((round(time.monotonic() - self.started, 2), what))

    def alive(self) -> list[int]:
        """The pids of the recorded processes still running (zombies count as gone)."""
        return sorted(pid for pid, proc in self.processes.items() if _is_running(proc))


class Supervisor:
    """Starts processes in ``record.workdir`` (a folder and a log each) and stops them all, children too."""

    def __init__(self, record: ProcessRecord, env: dict[str, str]):
        self.record = record
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self._files = []

    def folder(self, name: str) -> Path:
        """The working folder of process ``name``."""
        return self.record.workdir / name

    def start(self, name: str, command: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen:
        """Run ``command`` in its own folder and session, output to ``<workdir>/<name>.log``; ``env`` adds variables."""
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        log_path = self.record.workdir / f"{name}.log"
        log_file = open(log_path, "wb")  # noqa: SIM115 -- closed in stop_all
        self._files.append(log_file)
        proc = subprocess.Popen(
            command, cwd=folder, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,  # own process group: killpg reaches children
        )
        self.procs[name] = proc
        try:
            self._remember(psutil.Process(proc.pid), name)
        except psutil.Error:
            pass  # gone already (its exit code still tells)
        self.record.logs[name] = log_path
        self.record.commands[name] = command
        return proc

    def _remember(self, proc: psutil.Process, name: str | None = None) -> None:
        if proc.pid not in self.record.processes:
            self.record.processes[proc.pid] = proc
            self.record.event(f"pid {proc.pid} started: {name or _command_name(proc)}")

    def track(self) -> list[int]:
        """Record the descendants of every recorded process; returns the recorded processes still running."""
        for proc in self.procs.values():
            proc.poll()  # reap our own children
        for pid in sorted(_descendants(self.record.alive())):
            try:
                self._remember(psutil.Process(pid))
            except psutil.Error:
                pass  # ended meanwhile
        return self.record.alive()

    def wait_listening(self, name: str, port: int, deadline: float, host: str = LOOPBACK) -> None:
        """Wait until process ``name`` listens on ``port``; raises if it exits first or ``deadline`` passes."""
        proc = self.procs[name]
        while not is_listening(port, host):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited (code {proc.returncode}) before listening on port {port}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} is not listening on {host}:{port}")
            time.sleep(POLL_S)

    def _signal(self, sig: int) -> None:
        """``sig`` to every running recorded process, and to the process groups they are in."""
        alive = self.record.alive()
        groups = set()
        for pid in alive:
            try:
                groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        # Our processes lead their own groups; a detached SuperExec leads another. Never our group.
        for group in groups - {os.getpgrp(), 0, 1}:
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in alive:
            try:
                self.record.processes[pid].send_signal(sig)  # psutil checks the pid was not reused
            except psutil.Error:
                pass

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every process group and process, SIGKILL what is left after ``grace_s``."""
        try:
            if not self.track():
                return
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.track() and time.monotonic() < deadline:  # a child spawned meanwhile is ours too
                time.sleep(0.1)
            if self.track():
                self._signal(signal.SIGKILL)
                deadline = time.monotonic() + 5.0
                while self.track() and time.monotonic() < deadline:
                    time.sleep(0.05)
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            for f in self._files:
                f.close()

    def tails(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` of every log, each under a header with its process's status."""
        parts = []
        for name, path in self.record.logs.items():
            proc = self.procs.get(name)
            code = None if proc is None else proc.poll()
            status = "running" if code is None else f"exit code {code}"
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError as err:
                text = [f"<log unreadable: {err}>"]
            parts.append(f"----- {name} ({status}; {path}) -----\n" + "\n".join(text))
        return "\n".join(parts)
