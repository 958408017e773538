"""Compiled twins of the engine's hot modules (mypyc), and the guard that keeps them honest.

Feature extraction and the per-account fold are plain typed Python: many small calls, dict
lookups and attribute reads per event. mypyc compiles the same source (it is already
``mypy --strict`` clean) to C extensions beside the ``.py`` files, which Python then imports in
their place. Nothing else changes: one source, one meaning of an event; the compiled build is an
accelerator, and ``benchmarks/engine_throughput.py`` measures it against the source side by side.

The guard, run when the package is imported: where the extensions are older than their source
(a module edited since the build), or ``DISTILLGUARD_NATIVE=0``, every compiled module is
imported from its ``.py`` instead, all of them together (compiled modules call each other
directly, so a mix would run stale code). So an edit always takes effect, and a missing
compiler only costs speed. ``distillguard.native_build`` builds them; ``scripts/setup.sh`` runs
it when they are missing or stale.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Final

PACKAGE: Final = Path(__file__).resolve().parent
MANIFEST: Final = PACKAGE / "_native.json"
GROUP: Final = "distillguard._native"  # the shared library: distillguard/_native__mypyc.*.so
# What runs per event in ``analyze`` and the gateway's decision hook. Modules defining pydantic
# models cannot be compiled (mypyc turns class attributes into typed slots).
MODULES: Final = (
    "distillguard.events",
    "distillguard.features.matcher",
    "distillguard.features.ask_prefilter",
    "distillguard.features.text",
    "distillguard.features.asks",
    "distillguard.features.intent",
    "distillguard.features.request",
    "distillguard.population",
    "distillguard.detectors.base",
    "distillguard.detectors.volume",
    "distillguard.detectors.timing",
    "distillguard.detectors.template",
    "distillguard.detectors.parameters",
    "distillguard.detectors.conversation",
    "distillguard.detectors.capability",
    "distillguard.detectors.elicitation",
    "distillguard.detectors.release",
    "distillguard.detectors.metadata",
    "distillguard.detectors.semantic",
    "distillguard.campaigns.linker",
    "distillguard.scoring.combine",
    "distillguard.engine",
)


def source_of(module: str) -> Path:
    return PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")


def digest(module: str) -> str:
    return hashlib.sha256(source_of(module).read_bytes()).hexdigest()


def stale_modules() -> list[str]:
    """The compiled modules whose source differs from the one they were built from; every
    module when the manifest is unreadable; none when nothing was built."""
    try:
        built = json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return list(MODULES)
    modules = built.get("modules") if isinstance(built, dict) else None
    if not isinstance(modules, dict):
        return list(MODULES)
    return [m for m in MODULES if modules.get(m) != digest(m)]


def current() -> bool:
    """Whether the compiled modules are built and none is older than its source."""
    return MANIFEST.exists() and not stale_modules()


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the listed modules from their ``.py`` files, past any extension beside them."""

    def __init__(self, modules: Sequence[str]):
        self.modules = frozenset(modules)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname))


def guard() -> str:
    """Decide, once per process, where the hot modules come from; returns why."""
    if any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        return "source"
    if os.environ.get("DISTILLGUARD_NATIVE", "1") == "0":
        reason = "source (DISTILLGUARD_NATIVE=0)"
    elif stale := stale_modules():
        reason = f"source ({len(stale)} module(s) changed since the build; rebuild it)"
    else:
        return "compiled" if MANIFEST.exists() else "source (not built)"
    sys.meta_path.insert(0, _SourceFinder(MODULES))
    return reason


def is_compiled(module: ModuleType) -> bool:
    return not (module.__file__ or "").endswith(".py")
