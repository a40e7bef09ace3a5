"""Why a distance could not be computed."""

from __future__ import annotations


class DistanceError(ValueError):
    """A distance cannot be computed as asked."""


class MissingFeaturesError(DistanceError):
    """URIEL has no value of the requested kind for a language (or none shared by a pair)."""

    def __init__(self, message: str, language: str, kind: str):
        super().__init__(message)
        self.language = language
        self.kind = kind


class MissingParallelDataError(DistanceError):
    """No parallel sentences are shipped for a language, so no model-based distance exists."""
