"""Account metadata: brand-new accounts and payment methods shared across accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from distillguard.detectors.base import ramp
from distillguard.features.request import RequestFeatures
from distillguard.population import DAY, Population

ESTABLISHED_DAYS = 60.0
VETTED_CHANNELS = ("enterprise", "research", "education")


@dataclass(slots=True)
class MetadataState:
    age_days: float = -1.0  # account age at its first request; -1 unknown
    payment: str = ""
    channel: str = ""


class MetadataDetector:
    name: ClassVar[str] = "metadata"
    test_min_events: ClassVar[int] = 1

    def initial(self) -> MetadataState:
        return MetadataState()

    def update(self, state: MetadataState, f: RequestFeatures, pop: Population) -> None:
        if f.created_at is not None and state.age_days < 0:
            state.age_days = max(0.0, (f.ts - f.created_at) / DAY)
        if f.payment:
            if f.payment != state.payment:
                pop.note_payment(f.payment, f.account_id)
            state.payment = f.payment
        if f.signup_channel:
            state.channel = f.signup_channel

    @staticmethod
    def trust(state: MetadataState) -> float:
        """A multiplier <= 1 on the account's own score: established accounts of vetted
        channels have more to lose. Campaign evidence is never discounted."""
        factor = 1.0
        if state.age_days >= ESTABLISHED_DAYS:
            factor *= 0.85
            if state.channel in VETTED_CHANNELS:
                factor *= 0.85
        return factor

    def value(self, state: MetadataState, pop: Population) -> float:
        shared = pop.payment_accounts(state.payment) - 1 if state.payment else 0
        new = 1.0 - ramp(state.age_days, 2.0, 14.0) if state.age_days >= 0 else 0.0
        return max(ramp(shared, 1, 4), 0.5 * new)

    def explain(self, state: MetadataState, pop: Population) -> str:
        shared = pop.payment_accounts(state.payment) - 1 if state.payment else 0
        age = f"{state.age_days:.1f} days old" if state.age_days >= 0 else "age unknown"
        return f"account {age} at first request; payment shared with {shared} other accounts"
