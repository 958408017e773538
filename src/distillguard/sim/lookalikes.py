"""Legitimate automation that shares traits with attacks and must stay unflagged.

``enterprise-pipeline`` (templated business jobs around the clock), ``eval-harness`` (public
benchmarks with chain-of-thought prompts, in bursts) and ``coding-agent`` (IDE tool loops on a
working day). Each lives in its own ``lookalikes_*`` module; this one registers them.
"""

from __future__ import annotations

from distillguard.sim.context import SourceFactory
from distillguard.sim.lookalikes_coding import coding_agent_source
from distillguard.sim.lookalikes_enterprise import enterprise_source
from distillguard.sim.lookalikes_eval import eval_harness_source

FACTORIES: dict[str, SourceFactory] = {
    "enterprise-pipeline": enterprise_source,
    "eval-harness": eval_harness_source,
    "coding-agent": coding_agent_source,
}
