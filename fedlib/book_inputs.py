"""A fingerprint of what the book's pages read besides their own source.

Jupyter Book's execution cache keys a page on its code cells only, and Sphinx re-reads a page only when
its source file changes. A chapter that loads a newly computed artifact, or calls a changed ``fedlib``
function, would therefore be served stale. ``make book`` compares this fingerprint (result artifacts,
benchmark results, the library's sources) with the one of the last successful build and clears the
execution cache when it changed:

    python -m fedlib.book_inputs check _build/.book-inputs   # exit 0: unchanged, 1: changed or no build
    python -m fedlib.book_inputs write _build/.book-inputs
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from fedlib.config import REPO_ROOT

WATCHED = (("results", "*.json"), ("benchmarks/results", "*.json"), ("fedlib", "*.py"))


def fingerprint(root: Path = REPO_ROOT) -> str:
    """sha256 over the relative path and content of every watched file, in sorted order."""
    digest = hashlib.sha256()
    for folder, pattern in WATCHED:
        for path in sorted((root / folder).rglob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("check", "write"):
        print("usage: python -m fedlib.book_inputs check|write STAMP_FILE", file=sys.stderr)
        return 2
    command, stamp = args[0], Path(args[1])
    current = fingerprint()
    if command == "write":
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(current + "\n")
        return 0
    if not stamp.exists():
        return 1  # no earlier build: everything executes anyway
    if stamp.read_text().strip() != current:
        print("result artifacts or fedlib changed since the last build: re-executing every page")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
