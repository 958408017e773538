"""distillguard: protect an LLM API from distillation attacks."""

from __future__ import annotations

from distillguard.native import guard

__version__ = "0.1.0"
# Compiled twins of the hot modules, where built and current; else their source (native.py).
NATIVE = guard()
