"""Request parameters that only make sense for harvesting at scale: soft labels (logprobs),
many samples per prompt, the output ceiling on every call, tools on one-shot synthetic tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.intent import CEILING_TOKENS, long_output, soft_labels
from distillguard.features.request import RequestFeatures
from distillguard.population import Population


@dataclass(slots=True)
class ParameterState:
    n: int = 0
    logprobs: int = 0
    multi_sample: int = 0
    ceiling: int = 0
    tools_single_turn: int = 0
    signature: int = 0  # the most frequent parameter signature (Boyer-Moore majority)
    signature_votes: int = 0


class ParameterDetector:
    name: ClassVar[str] = "parameters"
    test_min_events: ClassVar[int] = 10

    def initial(self) -> ParameterState:
        return ParameterState()

    def update(self, state: ParameterState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        state.logprobs += soft_labels(f)
        state.multi_sample += f.n >= 2 and long_output(f)
        state.ceiling += f.max_tokens >= CEILING_TOKENS
        state.tools_single_turn += f.tools and not f.tool_results and not f.has_history
        if state.signature_votes == 0:
            state.signature, state.signature_votes = f.param_signature, 1
        elif state.signature == f.param_signature:
            state.signature_votes += 1
        else:
            state.signature_votes -= 1

    def value(self, state: ParameterState, pop: Population) -> float:
        if state.n == 0:
            return 0.0
        n = state.n
        return max(
            ramp(state.logprobs / n, 0.2, 0.6),
            0.35 * ramp(state.multi_sample / n, 0.3, 0.8),  # pass@k evaluation samples too
            0.4 * ramp(state.ceiling / n, 0.5, 0.9),
            0.8 * ramp(state.tools_single_turn / n, 0.3, 0.8),
        ) * ramp(n, 2, 8)

    def explain(self, state: ParameterState, pop: Population) -> str:
        n = max(1, state.n)
        share = {
            "logprobs": state.logprobs / n,
            "n>1": state.multi_sample / n,
            "max_tokens at the ceiling": state.ceiling / n,
            "tools on single-turn prompts": state.tools_single_turn / n,
        }
        shown = ", ".join(f"{k} {v:.0%}" for k, v in share.items() if v > 0)
        return f"parameters: {shown or 'ordinary'}"
