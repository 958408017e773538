"""Conversation shape: people converse, harvesters send one-shot prompts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import Population


@dataclass(slots=True)
class ConversationState:
    n: int = 0
    single_turn: int = 0
    follow_ups: int = 0
    depth_sum: int = 0


class ConversationDetector:
    name: ClassVar[str] = "conversation"
    test_min_events: ClassVar[int] = 30

    def initial(self) -> ConversationState:
        return ConversationState()

    def update(self, state: ConversationState, f: RequestFeatures, pop: Population) -> None:
        state.n += 1
        if not f.has_history:
            state.single_turn += 1
        elif "follow_up" in f.families:
            state.follow_ups += 1
        state.depth_sum += f.n_messages

    def value(self, state: ConversationState, pop: Population) -> float:
        if state.n == 0:
            return 0.0
        single = state.single_turn / state.n
        follow = state.follow_ups / state.n
        return ramp(single, 0.75, 0.97) * ramp(state.n, 10, 30) * (1.0 - ramp(follow, 0.05, 0.3))

    def explain(self, state: ConversationState, pop: Population) -> str:
        n = max(1, state.n)
        return (
            f"{state.single_turn / n:.0%} single-turn, {state.follow_ups / n:.0%} follow-ups, "
            f"mean depth {state.depth_sum / n:.1f} messages over {state.n} requests"
        )
