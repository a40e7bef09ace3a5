"""The cache of built backbones: verified through a manifest, built under a lock, installed atomically.

The cache is trusted only through its manifest: each build is assembled in a temporary folder,
the manifest (source hashes and a sha256 of every saved file) is written last, and the folder is
renamed into place. A folder whose manifest is missing or whose files no longer match is rebuilt
with a :class:`BackboneCacheWarning`, never used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import transformers
from filelock import FileLock

from fedlib import __version__, config
from fedlib.backbone.assets import ASSETS, fetch_assets, sha256_file
from fedlib.backbone.console import log
from fedlib.backbone.errors import BackboneCacheWarning

MANIFEST = "fedlib-manifest.json"
# Bump when the conversion changes: folders built by older code are then rebuilt automatically.
BUILD_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class Build:
    """A cached folder, the asset files it is made from, and the function that writes it."""

    folder_name: str
    assets: tuple[str, ...]
    write: Callable[[Path, dict[str, Path]], None]  # writes the build's files into a folder

    def sources(self) -> dict[str, str]:
        return {a: ASSETS[a].sha256 for a in self.assets}


def _backbones_dir() -> Path:
    path = config.cache_dir() / "backbones"
    path.mkdir(parents=True, exist_ok=True)
    return path


# Re-hashing 470 MB costs ~0.3 s; within one process a file whose size, mtime and inode are
# unchanged since it was last verified is not hashed again.
_VERIFIED: dict[tuple[str, int, int, int], str] = {}


def _sha256_memo(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return _VERIFIED[key]


def build_problem(folder: Path, build: Build) -> str | None:
    """None when ``folder`` holds a complete, unmodified build, else what is wrong with it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return "its manifest is missing (an interrupted or damaged build)"
    except (OSError, ValueError) as exc:
        return f"its manifest is unreadable ({exc})"
    if manifest.get("format") != BUILD_FORMAT or manifest.get("sources") != build.sources():
        return "it was built from other sources or by an incompatible fedlib version"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "its manifest lists no files"
    for rel, expected in files.items():
        try:
            actual = _sha256_memo(folder / rel)
        except OSError as exc:
            return f"{rel} is unreadable ({exc.strerror or exc})"
        if actual != expected:
            return f"{rel} fails its checksum (sha256 {actual}, manifest says {expected})"
    return None


def write_manifest(folder: Path, build: Build, origin: str, seconds: float) -> None:
    files = {
        p.relative_to(folder).as_posix(): _sha256_memo(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p != folder / MANIFEST
    }
    manifest = {
        "format": BUILD_FORMAT,
        "backbone": build.folder_name,
        "sources": build.sources(),
        "source_origin": origin,
        "files": files,
        "fedlib_version": __version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "build_seconds": round(seconds, 1),
    }
    # Written last: its presence is what marks the folder as complete.
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _make_readable(folder: Path) -> None:
    """mkdtemp creates 0700 folders (and some writers 0600 files); give them the umask's modes."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _install(tmp: Path, folder: Path) -> None:
    """Atomically move a finished build into place (an old, broken folder is moved aside)."""
    _make_readable(tmp)
    trash = None
    if os.path.lexists(folder):
        trash = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        folder.rename(trash)
    tmp.rename(folder)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Serialise builds of one folder across processes (e.g. parallel simulation workers)."""
    lock = FileLock(str(folder.with_name(f".{folder.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except TimeoutError:
        log.info("waiting for another process that is building %s", folder)
        lock.acquire(timeout=3600)
    try:
        yield
    finally:
        lock.release()


def ensure_build(build: Build, *, force: bool = False, reason: str | None = None) -> Path:
    """The verified folder of ``build``; built (or rebuilt, with a warning) when needed."""
    folder = _backbones_dir() / build.folder_name
    problem = reason if force else build_problem(folder, build)
    if problem is None and not force:
        return folder
    with _build_lock(folder):
        if not force and (problem := build_problem(folder, build)) is None:
            return folder  # another process finished it while we waited
        if problem is not None and os.path.lexists(folder):
            msg = f"cached backbone {folder} is unusable: {problem}; rebuilding it"
            warnings.warn(msg, BackboneCacheWarning, stacklevel=3)
            log.warning("%s", msg)
        _clean_stale(folder)
        _rebuild(build, folder)
    return folder


def _clean_stale(folder: Path) -> None:
    """Remove leftovers of killed builds; safe because the caller holds the build lock."""
    for stale in folder.parent.glob(f".{folder.name}.*-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _rebuild(build: Build, folder: Path) -> None:
    start = time.perf_counter()
    log.info("building %s (one-off) in %s", build.folder_name, folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.build-", dir=folder.parent))
    try:
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}.assets-", dir=folder.parent) as d:
            sources, origin = fetch_assets(build.assets, Path(d))
            build.write(tmp, sources)
        write_manifest(tmp, build, origin, time.perf_counter() - start)
        _install(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved %s to %s in %.1f s", build.folder_name, folder, time.perf_counter() - start)
