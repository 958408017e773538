"""The compiled twins of the hot modules (``distillguard.native``): the guard that falls back to
their source, and that compiled and source give the same verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import distillguard
from distillguard import native

NATIVE_MODULE = "distillguard.features.text"


def _python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_a_manifest_tells_which_sources_changed_since_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "_native.json"
    monkeypatch.setattr(native, "MANIFEST", manifest)
    assert native.stale_modules() == []  # nothing built: nothing stale
    digests = {m: native.digest(m) for m in native.MODULES}
    manifest.write_text(json.dumps({"modules": digests}), encoding="utf-8")
    assert native.stale_modules() == []
    digests[NATIVE_MODULE] = "0" * 64  # as if text.py was edited after the build
    manifest.write_text(json.dumps({"modules": digests}), encoding="utf-8")
    assert native.stale_modules() == [NATIVE_MODULE]
    manifest.write_text("{not json", encoding="utf-8")
    assert native.stale_modules() == list(native.MODULES)


def test_a_stale_build_imports_every_compiled_module_from_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(native, "stale_modules", lambda: [NATIVE_MODULE])
    monkeypatch.delenv("DISTILLGUARD_NATIVE", raising=False)
    reason = native.guard()
    assert reason.startswith("source (1 module(s) changed")
    finder = sys.meta_path[0]
    for module in native.MODULES:  # all of them, not only the stale one
        spec = finder.find_spec(module, None)
        assert spec is not None and spec.origin == str(native.source_of(module))
    assert finder.find_spec("distillguard.analyze", None) is None
    assert native.guard() == "source"  # once per process


def test_the_environment_can_turn_the_compiled_modules_off() -> None:
    out = _python(
        "import distillguard, distillguard.features.request as r, distillguard.population as p;"
        "print(distillguard.NATIVE, r.__file__, p.__file__, sep='|')",
        DISTILLGUARD_NATIVE="0",
    )
    reason, request, population = out.split("|")
    assert reason == "source (DISTILLGUARD_NATIVE=0)"
    assert request.endswith("request.py") and population.endswith("population.py")


@pytest.mark.skipif(
    distillguard.NATIVE != "compiled",
    reason=f"compiled modules not in use here: {distillguard.NATIVE}",
)
def test_compiled_and_source_analyze_a_log_alike(tmp_path: Path) -> None:
    from distillguard.features import request

    assert native.is_compiled(request)
    cli = [sys.executable, "-m", "distillguard"]
    sim = tmp_path / "sim"
    subprocess.run(
        [*cli, "simulate", "--out", str(sim), "--seed", "8", "--scale", "0.15", "--days", "1"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    outs = {}
    for flag in ("1", "0"):
        out = tmp_path / f"native-{flag}"
        subprocess.run(
            [*cli, "analyze", str(sim / "events.jsonl"), "--out", str(out), "--no-report"],
            env={**os.environ, "DISTILLGUARD_NATIVE": flag},
            check=True,
            capture_output=True,
            timeout=600,
        )
        outs[flag] = out
    for name in ("accounts.jsonl", "campaigns.jsonl", "summary.json"):
        compiled = (outs["1"] / name).read_text(encoding="utf-8")
        assert compiled == (outs["0"] / name).read_text(encoding="utf-8"), name
    summary = json.loads((outs["1"] / "summary.json").read_text(encoding="utf-8"))
    assert summary["flagged_accounts"] > 0 and summary["flagged_accounts"] < summary["accounts"]
