"""A campaign one replica flags, recognised by every replica.

Each replica's engine links the accounts it sees; the decisions store (SQLite on one host,
Redis across hosts) is what replicas share. When a replica's engine flags a campaign, its
indicators go into the store as intelligence from ``replica:<name>`` — the same records a
peer's STIX bundle becomes, built by the same export and import code: payment fingerprints,
the members' shared prompt templates (as MinHash signatures); never IP ranges (one replica
cannot know who else sits behind a NAT). Every replica's snapshot
then matches new traffic against them, so a new head of the campaign that reaches another
replica gets ``intel_boost`` and the policy's intel rule (default: degrade) on its first
request. A campaign is published again when it has grown by half since the last time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from distillguard.engine import Engine
from distillguard.intel.export import campaign_intel
from distillguard.intel.records import to_record
from distillguard.intel.stix import export_json, import_bundle
from distillguard.store.decisions import Decisions

if TYPE_CHECKING:
    from distillguard.policy.response import AccountSample

log = logging.getLogger(__name__)

GROWTH = 1.5


class CampaignSharing:
    def __init__(self, store: Decisions, replica: str, valid_days: float = 7.0):
        self.store = store
        self.source = f"replica:{replica}"
        self.valid_days = valid_days
        self._published: dict[str, int] = {}  # campaign id -> members when last published

    def due(self, campaign_id: str, members: int) -> bool:
        last = self._published.get(campaign_id)
        return last is None or members >= GROWTH * last

    def mark(self, campaign_id: str, members: int) -> None:
        self._published[campaign_id] = members

    def publish(
        self,
        engine: Engine,
        campaign_id: str,
        samples: dict[str, AccountSample],
    ) -> int:
        """Store the campaign's indicators as shared intel; how many were new."""
        intel = campaign_intel(engine, campaign_id, samples)
        # No networks: "every account seen there is a member" is one replica's view, and a
        # campus NAT's students may all be on the other replicas. No client fingerprints:
        # common SDKs share them.
        intel = replace(intel, cidrs=[], client_fingerprints=[])
        found = import_bundle(export_json(intel, producer=self.source, valid_days=None))
        # Valid for a while from now (wall clock; the traffic's own clock may be a replay's).
        until = time.time() + self.valid_days * 86400
        records = [replace(to_record(p), source=self.source, valid_until=until) for p in found]
        added = self.store.import_intel(
            records, actor=self.source, source_file=f"campaign {campaign_id} flagged"
        )
        self.mark(campaign_id, intel.accounts)
        log.info("shared campaign %s: %d indicators (%d new)", campaign_id, len(records), added)
        return added
