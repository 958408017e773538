"""What we share about a campaign and what a peer shared with us, free of any STIX types.

Keeping these plain lets the engine, the CLI and tests build and read intel without importing
stix2; only ``intel.stix`` knows the wire format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

IndicatorKind = Literal["cidr", "payment_sha256", "client_sha256", "template_minhash"]
INDICATOR_KINDS: tuple[IndicatorKind, ...] = (
    "cidr",
    "payment_sha256",
    "client_sha256",
    "template_minhash",
)


@dataclass(slots=True)
class CampaignIntel:
    """One campaign as we know it, raw values included; export hashes or sketches them."""

    campaign_id: str  # local id (a union-find root): only ever exported through a uuid5
    name: str
    first_seen: float  # unix seconds
    last_seen: float
    accounts: int
    requests: int
    focus: dict[str, float] = field(default_factory=dict)  # capability -> share of requests
    reasons: list[str] = field(default_factory=list)
    cidrs: list[str] = field(default_factory=list)  # IPv4 /24, IPv6 /48 or single addresses
    payment_fingerprints: list[str] = field(default_factory=list)  # raw; hashed on export
    client_fingerprints: list[str] = field(default_factory=list)  # raw UA/SDK; hashed on export
    template_skeletons: list[str] = field(default_factory=list)  # exported as MinHash only
    confidence: int = 50  # 0-100, the STIX confidence scale

    def __post_init__(self) -> None:
        if not self.campaign_id:
            raise ValueError("campaign_id must not be empty")
        if not (math.isfinite(self.first_seen) and math.isfinite(self.last_seen)):
            raise ValueError("first_seen and last_seen must be finite timestamps")
        if self.last_seen < self.first_seen:
            raise ValueError(f"last_seen {self.last_seen} is before first_seen {self.first_seen}")
        if not 0 <= self.confidence <= 100:
            raise ValueError(f"confidence {self.confidence} outside 0-100")
        if self.accounts < 0 or self.requests < 0:
            raise ValueError("accounts and requests must not be negative")


@dataclass(frozen=True, slots=True)
class PeerIndicator:
    """One indicator we understood in a peer's bundle, ready for ``IntelMatcher``.

    ``value`` is a network string (``"203.0.113.0/24"``, single addresses as /32 or /128), a
    lowercase SHA-256 hex digest, or a MinHash signature for ``template_minhash``.
    """

    kind: IndicatorKind
    value: str | tuple[int, ...]
    source: str | None  # name of the identity in created_by_ref, when the bundle carries it
    campaign: str | None  # name of the campaign the indicator "indicates", if any
    confidence: int | None
    valid_from: float  # unix seconds
    valid_until: float | None
    indicator_id: str  # the STIX id, for reports and for tracing a match back to the bundle
