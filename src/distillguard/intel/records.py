"""Peer indicators as the decisions store keeps them (strings), and back."""

from __future__ import annotations

from distillguard.intel.model import INDICATOR_KINDS, PeerIndicator
from distillguard.store.decisions import IntelRecord


def to_record(p: PeerIndicator) -> IntelRecord:
    value = ",".join(map(str, p.value)) if isinstance(p.value, tuple) else p.value
    return IntelRecord(
        p.kind,
        value,
        p.source or "unknown",
        p.campaign or "",
        p.confidence or 0,
        p.indicator_id,
        p.valid_until,
    )


def from_record(r: IntelRecord) -> PeerIndicator:
    kind = next(k for k in INDICATOR_KINDS if k == r.kind)
    value: str | tuple[int, ...] = (
        tuple(int(x) for x in r.value.split(",")) if kind == "template_minhash" else r.value
    )
    return PeerIndicator(
        kind=kind,
        value=value,
        source=r.source,
        campaign=r.campaign or None,
        confidence=r.confidence,
        valid_from=0.0,
        valid_until=r.valid_until,
        indicator_id=r.stix_id,
    )
