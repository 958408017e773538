"""distillguard: protect an LLM API from distillation attacks."""

from __future__ import annotations

__version__ = "0.1.0"
