"""all-MiniLM-L6-v2 on ONNX Runtime: the same BERT as ``embedding``'s numpy pass, as a graph.

The graph is built here, at load time, from the safetensors weights (nothing is downloaded and no
exporter or torch is involved; ~1 s), and run by ONNX Runtime's CPU kernels on one thread. Its
GEMMs beat numpy's BLAS on the few-row matrices of short spans, and one ``run`` replaces the numpy
pass's hundreds of small calls: one short span per call, the engine's usual call, embeds ~1.6x as
fast; at 4 or 32 spans per call, where both are bound by the same GEMM arithmetic, ~1.1-1.2x
(``benchmarks/embedding_throughput.py``). Outputs agree with numpy's within ~3e-7.

Texts travel packed, one row per real token, as in the numpy pass: the dense layers never see
padding. Only attention pads, each text's keys masked past its length: the graph gathers the
packed Q, K and V into a (texts, longest, 3 x 384) block for ``MultiHeadAttention`` and scatters
the context back to the packed rows.

``int8=True`` swaps every weight matrix for ``DynamicQuantizeMatMul`` (int8 weights, one scale per
output column; activations quantised per call, so a vector also depends a little on its batch).
It is faster again (~1.9x fp32 at one span per call, ~1.3-1.6x at 4-32) but moves the vectors
(cosine to fp32: mean ~0.992, worst ~0.96) enough to flip ~0.7% of the ask probe's verdicts, so
it is an opt-in, not the default.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# opset 17 has LayerNormalization; com.microsoft holds MultiHeadAttention, BiasGelu and
# DynamicQuantizeMatMul. SkipLayerNormalization is left out on purpose: on CPU it ran 3-4x
# slower than Add + LayerNormalization on these shapes.
_OPSETS: Final = (helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1))
_CONTRIB_OPS: Final = frozenset({"MultiHeadAttention", "BiasGelu", "DynamicQuantizeMatMul"})
_INPUTS: Final = (
    ("input_ids", TensorProto.INT64, ["tokens"]),
    ("position_ids", TensorProto.INT64, ["tokens"]),
    ("pad_index", TensorProto.INT64, ["texts", "longest"]),  # packed row of each padded slot
    ("key_lengths", TensorProto.INT32, ["texts"]),
    ("unpad_index", TensorProto.INT64, ["tokens"]),  # padded slot of each packed row
)


def available() -> bool:
    """Whether onnx and onnxruntime import here (looked up afresh at every call)."""
    try:
        importlib.import_module("onnx")
        importlib.import_module("onnxruntime")
    except ImportError:
        return False
    return True


class _Graph:
    """Accumulates nodes and initializers; each helper returns its output's name."""

    def __init__(self, weights: Mapping[str, Any], eps: float, int8: bool) -> None:
        self.weights = weights
        self.eps = eps
        self.int8 = int8
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        array: npt.NDArray[Any] = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, name: str) -> F32:
        return np.asarray(self.weights[name], dtype=np.float32)

    def linear(self, prefix: str) -> tuple[F32, F32]:
        """A torch Linear's weight, transposed to (in, out), and its bias."""
        return self.weight(prefix + ".weight").T, self.weight(prefix + ".bias")

    def op(self, op_type: str, inputs: list[str], output: str, **attrs: Any) -> str:
        domain = "com.microsoft" if op_type in _CONTRIB_OPS else ""
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], name=output, domain=domain, **attrs)
        )
        return output

    def dense(self, x: str, w: F32, b: F32 | None, out: str) -> str:
        """``x @ w (+ b)`` for w stored (in, out); fp32 MatMul + Add fuses into one Gemm."""
        if self.int8:
            scale = np.maximum(np.abs(w).max(axis=0), np.float32(1e-12)) / np.float32(127.0)
            q = np.clip(np.rint(w / scale), -127, 127)
            inputs = [x, self.const(f"{out}.wq", q, np.int8), self.const(f"{out}.scale", scale)]
            inputs += ["", self.const(f"{out}.b", b)] if b is not None else []
            return self.op("DynamicQuantizeMatMul", inputs, out)
        if b is None:
            return self.op("MatMul", [x, self.const(f"{out}.w", w)], out)
        product = self.op("MatMul", [x, self.const(f"{out}.w", w)], out + ".mm")
        return self.op("Add", [product, self.const(f"{out}.b", b)], out)

    def add_norm(self, x: str, residual: str, prefix: str, out: str) -> str:
        total = self.op("Add", [x, residual], out + ".sum")
        gamma = self.const(f"{out}.g", self.weight(prefix + "LayerNorm.weight"))
        beta = self.const(f"{out}.beta", self.weight(prefix + "LayerNorm.bias"))
        return self.op("LayerNormalization", [total, gamma, beta], out, axis=-1, epsilon=self.eps)


def build_graph(
    weights: Mapping[str, Any], *, heads: int, eps: float, max_len: int, int8: bool = False
) -> onnx.ModelProto:
    """The encoder as an ONNX model: packed token ids in, packed last hidden states out
    (``tokens`` x 384); pooling stays with the caller, shared with the numpy pass."""
    g = _Graph(weights, eps, int8)
    word = g.const("word", g.weight("embeddings.word_embeddings.weight"))
    # One segment (type 0) everywhere, so its embedding folds into the position table.
    position = g.weight("embeddings.position_embeddings.weight")[:max_len]
    position = position + g.weight("embeddings.token_type_embeddings.weight")[0]
    tokens = g.op("Gather", [word, "input_ids"], "emb.word")
    positions = g.op("Gather", [g.const("position", position), "position_ids"], "emb.pos")
    x = g.add_norm(tokens, positions, "embeddings.", "emb")
    dim = len(g.weight("embeddings.LayerNorm.weight"))
    rows = g.const("rows", [-1, dim], np.int64)
    thirds = g.const("thirds", [dim, dim, dim], np.int64)
    for i in range(sum(k.endswith("attention.self.query.weight") for k in weights)):
        p, n = f"encoder.layer.{i}.", f"l{i}"
        qkv = [g.linear(f"{p}attention.self.{m}") for m in ("query", "key", "value")]
        qkv_w, qkv_b = np.hstack([w for w, _ in qkv]), np.hstack([b for _, b in qkv])
        padded = g.op("Gather", [g.dense(x, qkv_w, qkv_b, f"{n}.qkv"), "pad_index"], f"{n}.pad")
        q, k, v = (f"{n}.{m}" for m in "qkv")
        g.nodes.append(helper.make_node("Split", [padded, thirds], [q, k, v], name=q, axis=2))
        context = g.op(
            "MultiHeadAttention", [q, k, v, "", "key_lengths"], f"{n}.ctx", num_heads=heads
        )
        flat = g.op("Reshape", [context, rows], f"{n}.flat")
        packed = g.op("Gather", [flat, "unpad_index"], f"{n}.att")
        attended = g.dense(packed, *g.linear(p + "attention.output.dense"), f"{n}.o")
        h = g.add_norm(attended, x, p + "attention.output.", f"{n}.h")
        ff_w, ff_b = g.linear(p + "intermediate.dense")
        inner = g.dense(h, ff_w, None, f"{n}.ff")
        # BiasGelu is BERT's exact erf GELU (FastGelu would be the tanh approximation).
        gelu = g.op("BiasGelu", [inner, g.const(f"{n}.ff.b", ff_b)], f"{n}.gelu")
        ffn = g.dense(gelu, *g.linear(p + "output.dense"), f"{n}.ffo")
        x = g.add_norm(ffn, h, p + "output.", f"{n}.y")
    g.op("Identity", [x], "hidden")
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(*spec) for spec in _INPUTS],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["tokens", dim])],
        g.initializers,
    )
    return helper.make_model(graph, opset_imports=list(_OPSETS))


def _session(ort: Any, model: onnx.ModelProto, options: Any) -> Any:
    """Read from a file where one can be written: given the bytes instead, the session kept a
    copy of the whole serialised model (~90 MB) for its lifetime."""
    providers = ["CPUExecutionProvider"]
    try:
        with tempfile.TemporaryDirectory(prefix="distillguard-minilm-") as tmp:
            path = Path(tmp) / "model.onnx"
            onnx.save(model, path)
            return ort.InferenceSession(str(path), options, providers=providers)
    except OSError:  # no writable temporary directory
        return ort.InferenceSession(model.SerializeToString(), options, providers=providers)


class OnnxModel:
    """One ONNX Runtime session over the built graph: packed ids in, packed states out."""

    def __init__(self, model: onnx.ModelProto) -> None:
        ort = importlib.import_module("onnxruntime")  # untyped: imported by name
        options = ort.SessionOptions()
        # One thread: the engine runs one worker per core, and on two busy cores extra
        # threads cost more than they gain (the numpy pass was 3-6x slower with them).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        self.session = _session(ort, model, options)

    def __call__(self, ids: I64, lengths: I64) -> F32:
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(len(ids)) - np.repeat(starts, lengths)
        longest = int(lengths.max())
        # Padded slots point at any real row (here, tokens of the next text or the last one):
        # their keys are masked and their queries are dropped when scattering back.
        pad = np.minimum(starts[:, None] + np.arange(longest), len(ids) - 1)
        feeds = {
            "input_ids": ids,
            "position_ids": positions,
            "pad_index": pad,
            "key_lengths": lengths.astype(np.int32),
            "unpad_index": np.repeat(np.arange(len(lengths)) * longest, lengths) + positions,
        }
        hidden: F32 = self.session.run(None, feeds)[0]
        return hidden
