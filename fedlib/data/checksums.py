"""SHA-256 verification of the shipped data files against ``data/SHA256SUMS``.

``SHA256SUMS`` is in ``sha256sum`` format (``<hex>  <path relative to data/>``), so
``cd data && sha256sum -c SHA256SUMS`` checks the same thing from a shell.

Each file is hashed at most once per process: the result is cached on
``(path, size, mtime)``, so re-loading a task costs nothing, while a file that is
edited (new mtime or size) is hashed again.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

from fedlib.config import data_dir
from fedlib.data.errors import RESTORE_HINT, ChecksumMismatchError, DataFileMissingError

log = logging.getLogger(__name__)

SUMS_FILE = "SHA256SUMS"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _parse_sums(path_str: str, size: int, mtime_ns: int) -> dict[str, str]:
    sums: dict[str, str] = {}
    for lineno, line in enumerate(Path(path_str).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ChecksumMismatchError(
                f"{path_str}, line {lineno}: expected '<sha256>  <path>', got {line!r}; {RESTORE_HINT}"
            )
        sums[parts[1].strip().lstrip("*")] = parts[0].lower()
    return sums


@functools.lru_cache(maxsize=4096)
def _hash_cached(path_str: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path_str))


def expected_checksums(root: Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` from ``<root>/SHA256SUMS`` (empty when the file is absent)."""
    root = Path(root) if root is not None else data_dir()
    sums = root / SUMS_FILE
    if not sums.is_file():
        return {}
    st = sums.stat()
    return dict(_parse_sums(str(sums.resolve()), st.st_size, st.st_mtime_ns))


_warned_roots: set[str] = set()


def verify_file(path: Path, root: Path | None = None) -> None:
    """Check ``path`` against ``<root>/SHA256SUMS``; raise :class:`ChecksumMismatchError` if it differs.

    * The file must exist (else :class:`DataFileMissingError`).
    * When ``SHA256SUMS`` is missing from ``root`` (a user's own data folder) a warning is
      logged once and nothing is checked.
    * A file inside ``root`` that ``SHA256SUMS`` does not list is an error too: every shipped
      file is listed, so an unlisted one is not shipped data.
    """
    root = Path(root) if root is not None else data_dir()
    path = Path(path)
    if not path.is_file():
        raise DataFileMissingError(f"data file not found: {path}; {RESTORE_HINT}")
    sums_path = root / SUMS_FILE
    if not sums_path.is_file():
        if str(root) not in _warned_roots:
            _warned_roots.add(str(root))
            log.warning("no %s in %s: data files there are not verified", SUMS_FILE, root)
        return
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return  # outside the data folder: nothing to compare with
    expected = expected_checksums(root).get(rel)
    if expected is None:
        raise ChecksumMismatchError(
            f"{path} is not listed in {sums_path}; only verified files are loaded. "
            f"Add its hash (`cd {root} && sha256sum {rel} >> {SUMS_FILE}`) or {RESTORE_HINT}"
        )
    st = path.stat()
    actual = _hash_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)
    if actual != expected:
        raise ChecksumMismatchError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            f"The file was modified or corrupted; {RESTORE_HINT}"
        )


def verify_all(root: Path | None = None) -> list[str]:
    """Verify every file listed in ``SHA256SUMS``; return the relative paths checked."""
    root = Path(root) if root is not None else data_dir()
    sums = expected_checksums(root)
    if not sums:
        raise DataFileMissingError(f"{root / SUMS_FILE} is missing or empty; {RESTORE_HINT}")
    for rel in sorted(sums):
        verify_file(root / rel, root)
    return sorted(sums)
