"""The detection engine: events in, one verdict per event out, causally.

The same object serves the live gateway (as its decision hook), ``analyze`` over a log and the
evaluation. Events must arrive in time order; the verdict after event k depends only on events
up to k, because every piece of state (detectors, population, campaigns) is updated with event
k before the verdict is read and never looks ahead.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from distillguard.campaigns.linker import CampaignStats, Linker
from distillguard.detectors.base import Detector, Signal, signal_of
from distillguard.detectors.metadata import MetadataDetector, MetadataState
from distillguard.detectors.registry import REGISTRY
from distillguard.detectors.semantic import SemanticState
from distillguard.detectors.template import TemplateState
from distillguard.engine_config import EngineConfig
from distillguard.events import Event, carries_request
from distillguard.features.intent import harvest_score
from distillguard.features.matcher import build_matcher
from distillguard.features.request import RequestFeatures, TextCache, client_signature, extract
from distillguard.features.text import h64
from distillguard.gateway.decision import ALLOW, Decision, RequestContext
from distillguard.population import Population
from distillguard.scoring.combine import (
    account_score,
    campaign_reason,
    campaign_score,
    ranked,
)

SCAFFOLD_MIN_DIVERSITY = 0.5
SCAFFOLD_MIN_SHARE = 0.3
SCAFFOLD_MIN_NOVELTY = 0.7
TEMPLATED_MIN_ACCOUNTS = 5
# A flagged campaign's scaffold becomes an indicator only when the campaign owns it: phrases
# that many unrelated accounts use too (a plugin's boilerplate, a public dataset's wording)
# must never mark the next account that uses them.
INDICATOR_MIN_SPECIFICITY = 0.85
INDICATOR_MIN_ACCOUNTS = 3
# A span the semantic layer read as an ask is remembered (engine-wide, bounded), and later
# requests that carry it, from any account, count as harvesting as a lexicon match would: a
# campaign's scaffold worded in no lexicon is embedded once and recognised from then on.
KNOWN_ASK_HARVEST = 0.8
KNOWN_ASKS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    account_id: str
    request_index: int  # 1-based index of this request among the account's own
    ts: float
    score: float
    flagged: bool
    campaign_id: str | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class AccountRecord:
    states: dict[str, Any]
    requests: int = 0
    first_ts: float = 0.0
    last_ts: float = 0.0
    score: float = 0.0
    flagged_at: int | None = None
    flagged_ts: float | None = None
    reasons: tuple[str, ...] = ()
    indicator_hits: int = 0
    values: dict[str, float] = field(default_factory=dict)
    campaign_root: str | None = None  # set when the campaign carries the account's score
    # What the fixed link keys were made of at the previous request: the same again adds
    # nothing (a key once offered is held, or refused for good), so it is not offered again.
    link_inputs: tuple[object, ...] = ()
    keys_remembered: int = -1  # linker keys already looked at by _remember_scaffolds


class SharedState(Protocol):
    """Where the engine's state is shared with other replicas (``store.feature_stream``)."""

    folded: int  # requests folded from the shared stream

    @property
    def backlog(self) -> int:
        """Requests folded here alone (the shared store was down), not yet published."""
        ...

    def judge(self, f: RequestFeatures) -> Verdict: ...

    async def tail_forever(self, interval_s: float) -> None:
        """Fold the other replicas' requests between this one's (on the event loop)."""
        ...


# A fold over a log allocates millions of small objects that live as long as their account.
# At Python's defaults the cyclic collector looks at the youngest every 700 allocations and
# promotes them on, walking them again and again (~6% of an analyze pass); reference counting
# frees the rest, and the engine makes few cycles. (Freezing what exists before the fold
# gained nothing measurable, and unfreezing it after brought the next full collection early.)
BATCH_GC_THRESHOLD = 50_000


@contextmanager
def batch_gc() -> Iterator[None]:
    """For a batch fold (``analyze``, the evaluation): the youngest generation is collected
    every ``BATCH_GC_THRESHOLD`` allocations instead of 700. The gateway keeps Python's
    defaults."""
    before = gc.get_threshold()
    gc.set_threshold(BATCH_GC_THRESHOLD, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def campaign_id_of(root: str) -> str:
    return f"camp_{h64(root):016x}"


class Engine:
    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        unknown = set(self.config.detectors) - set(REGISTRY)
        if unknown:
            raise ValueError(f"unknown detectors: {', '.join(sorted(unknown))}")
        self.detectors: list[Detector[Any]] = [REGISTRY[n]() for n in self.config.detectors]
        self._updates = [(d.name, d.update) for d in self.detectors]
        # A flagged account stays flagged: detectors that only refine its reasons at a price
        # (the semantic layer's embeddings) stop folding its requests.
        self._updates_flagged = [
            (d.name, d.update) for d in self.detectors if not getattr(d, "skip_once_flagged", False)
        ]
        self._values = [(d.name, d.value) for d in self.detectors]
        self._campaign_ids: dict[str, str] = {}
        self.matcher = build_matcher(self.config.lexicon_backend)
        self.text_cache = TextCache()
        self.population = Population(self.config.max_segments)
        self.linker = Linker(self.config.links)
        self.accounts: dict[str, AccountRecord] = {}
        self.flagged_scaffolds: set[int] = set()
        self._scaffolds_checked: set[tuple[str, int]] = set()
        self.known_asks: dict[str, str] = {}  # span -> intent, from the semantic layer
        self.events = 0
        # None: this engine's state is its own; else every replica folds every request.
        self.shared: SharedState | None = None

    # the pipeline -------------------------------------------------------------------
    def process(self, event: Event) -> Verdict | None:
        """Fold one event in; None for an event that carries no request to judge (refused by
        the gateway for bad input or a bad key before it was read)."""
        if not carries_request(event):
            return None
        return self.judge(extract(event, self.matcher, self.text_cache))

    def judge(self, f: RequestFeatures) -> Verdict:
        """The verdict on a live request: folded here, or through the replicas' shared state."""
        return self.process_features(f) if self.shared is None else self.shared.judge(f)

    def process_features(self, f: RequestFeatures) -> Verdict:
        self.events += 1
        harvest = harvest_score(f)
        if self.known_asks and harvest < KNOWN_ASK_HARVEST:
            known = self.known_asks
            if any(span in known for span in f.ask_spans):
                harvest = KNOWN_ASK_HARVEST
        self.population.observe(f.ts, f.account_id, f.model, f.segments, f.prompt_hash, harvest)
        record = self.accounts.get(f.account_id)
        if record is None:
            record = self.accounts[f.account_id] = AccountRecord(
                states={d.name: d.initial() for d in self.detectors}, first_ts=f.ts
            )
        record.requests += 1
        record.last_ts = f.ts
        states, pop = record.states, self.population
        unflagged = record.flagged_at is None
        for name, update in self._updates if unflagged else self._updates_flagged:
            update(states[name], f, pop)
        semantic = states.get("semantic")
        if unflagged and isinstance(semantic, SemanticState) and semantic.fresh:
            self._remember_asks(semantic.fresh)  # (a flagged account's are from before)
        self._link(f, record)
        campaign = self.linker.record(f.account_id, f.ts, harvest, f.capability, self._templated(f))
        return self._judge(f, record, campaign)

    def _remember_asks(self, asks: list[tuple[str, str]]) -> None:
        known = self.known_asks
        if len(known) >= KNOWN_ASKS_MAX:
            for old in list(known)[: KNOWN_ASKS_MAX // 2]:
                del known[old]
        known.update(asks)

    def _link(self, f: RequestFeatures, record: AccountRecord) -> None:
        account, add = f.account_id, self.linker.add_key
        inputs = (f.payment, f.ip_prefix, f.system_hash, f.param_signature, f.user_agent)
        if inputs != record.link_inputs:
            record.link_inputs = inputs
            if f.payment:
                add(account, ("payment", f.payment))
            add(account, ("network", f.ip_prefix))
            if f.system_hash:
                add(account, ("system", f.system_hash))
            add(account, ("signature", client_signature(f)))
        template = record.states.get("template")
        if isinstance(template, TemplateState):
            seg, count, novel = template.dominant()
            scaffold = self.population.scaffold(seg) if count >= 3 else None
            if (
                scaffold is not None
                and count >= SCAFFOLD_MIN_SHARE * template.n
                # Pasting the prompt everyone pastes (an assignment, a benchmark item) is not
                # filling a template with new data.
                and novel >= SCAFFOLD_MIN_NOVELTY * count
                and scaffold.n_accounts >= 2
                and scaffold.diversity >= SCAFFOLD_MIN_DIVERSITY
            ):
                add(account, ("scaffold", seg))
        if self.flagged_scaffolds and not self.flagged_scaffolds.isdisjoint(f.segments):
            for seg in f.segments:
                if seg in self.flagged_scaffolds:
                    record.indicator_hits += 1
                    add(account, ("scaffold", seg))
                    break

    def _templated(self, f: RequestFeatures) -> bool:
        """Is this prompt framed by a scaffold that many accounts fill with new data?"""
        scaffolds = self.population.scaffolds
        for seg in f.segments:
            scaffold = scaffolds.get(seg)
            if (
                scaffold is not None
                and scaffold.n_accounts >= TEMPLATED_MIN_ACCOUNTS
                and scaffold.diversity >= SCAFFOLD_MIN_DIVERSITY
            ):
                return True
        return False

    def _judge(
        self, f: RequestFeatures, record: AccountRecord, campaign: tuple[str, CampaignStats]
    ) -> Verdict:
        cfg = self.config.scoring
        pop = self.population
        states = record.states
        values = {name: value(states[name], pop) for name, value in self._values}
        own = account_score(values, record.requests, cfg)
        meta = record.states.get("metadata")
        if isinstance(meta, MetadataState):
            own *= MetadataDetector.trust(meta)
        if record.indicator_hits:
            # Matching a flagged campaign's own scaffold: the hydra growing a head.
            content = max((values.get(n, 0.0) for n in cfg.content_weights), default=0.0)
            own = max(own, min(1.0, 0.5 + 0.25 * record.indicator_hits) * max(content, 0.5))
        root, stats = campaign
        camp = campaign_score(stats, cfg) if stats.accounts >= 2 else 0.0
        flagged_campaign = stats.flagged_ts is not None
        if not flagged_campaign and camp >= cfg.flag_threshold:
            stats.flagged_ts = f.ts
            flagged_campaign = True
        if flagged_campaign:
            self._remember_scaffolds(f.account_id, record)
        score = max(own, camp)
        newly = record.flagged_at is None and (score >= cfg.flag_threshold or flagged_campaign)
        record.score, record.values = score, values
        record.campaign_root = root if stats.accounts >= 2 and camp >= own else None
        if newly:
            record.flagged_at, record.flagged_ts = record.requests, f.ts
            record.reasons = self.explain(f.account_id)
        flagged = record.flagged_at is not None
        return Verdict(
            account_id=f.account_id,
            request_index=record.requests,
            ts=f.ts,
            score=score,
            flagged=flagged,
            campaign_id=self._campaign_id(root) if stats.accounts >= 2 else None,
            reasons=record.reasons if flagged else (),
        )

    def _campaign_id(self, root: str) -> str:
        found = self._campaign_ids.get(root)
        if found is None:
            found = self._campaign_ids[root] = campaign_id_of(root)
        return found

    def explain(self, account_id: str, top: int = 3) -> tuple[str, ...]:
        """The account's reasons now: its campaign's, then its strongest signals."""
        record = self.accounts[account_id]
        reasons = []
        if record.indicator_hits:
            reasons.append(f"matches a flagged campaign's scaffold ({record.indicator_hits}x)")
        if record.campaign_root is not None:
            reasons.append(campaign_reason(self.linker.stats(self.linker.root(account_id))))
        by_name = {d.name: d for d in self.detectors}
        for name in ranked(record.values, self.config.scoring)[:top]:
            detector = by_name[name]
            signal = signal_of(detector, record.states[name], self.population)
            reasons.append(f"{name} {signal.value:.2f}: {signal.reason}")
        return tuple(reasons)

    def signals(self, account_id: str) -> dict[str, Signal]:
        record = self.accounts[account_id]
        return {
            d.name: signal_of(d, record.states[d.name], self.population) for d in self.detectors
        }

    def _remember_scaffolds(self, account: str, record: AccountRecord) -> None:
        # Every key looked at is settled for good (flagged, or checked for this account), and
        # keys are never taken away: only a key added since the last look can change anything.
        keys = self.linker.keys_of(account)
        if len(keys) == record.keys_remembered:
            return
        record.keys_remembered = len(keys)
        root = self.linker.root(account)
        for kind, value in keys:
            if kind != "scaffold" or not isinstance(value, int):
                continue
            if value in self.flagged_scaffolds or (account, value) in self._scaffolds_checked:
                continue
            self._scaffolds_checked.add((account, value))
            scaffold = self.population.scaffold(value)
            if scaffold is None or scaffold.n_accounts < INDICATOR_MIN_ACCOUNTS:
                continue
            own = sum(1 for a in scaffold.accounts if self.linker.root(a) == root)
            if own / scaffold.n_accounts >= INDICATOR_MIN_SPECIFICITY:
                self.flagged_scaffolds.add(value)

    # views ----------------------------------------------------------------------------
    def campaign(self, account_id: str) -> tuple[str | None, CampaignStats]:
        root, stats = self.linker.campaign_of(account_id)
        return (campaign_id_of(root) if stats.accounts >= 2 else None), stats

    def campaign_roots(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for account in self.accounts:
            members.setdefault(self.linker.root(account), []).append(account)
        return {r: m for r, m in members.items() if len(m) >= 2}

    def campaign_counts(self) -> tuple[int, int]:
        """(linked campaigns, flagged campaigns) now."""
        roots = self.campaign_roots()
        flagged = sum(1 for r in roots if self.linker.stats(r).flagged_ts is not None)
        return len(roots), flagged

    def is_flagged(self, account_id: str) -> bool:
        """Would the next request of this account be refused? (its own flag or its campaign's)"""
        record = self.accounts.get(account_id)
        if record is None:
            return False
        if record.flagged_at is not None:
            return True
        return self.linker.stats(self.linker.root(account_id)).flagged_ts is not None

    # the gateway's decision hook -------------------------------------------------------
    def decide(self, ctx: RequestContext) -> Decision:
        """Score the request itself before it is forwarded (a verdict at request k may use
        request k), so a flagged campaign's new account is refused on its first request."""
        verdict = self.process(ctx.to_event())
        if verdict is None or not verdict.flagged:
            return ALLOW if verdict is None else Decision("allow", verdict.score)
        return Decision(
            self.config.gateway_action, verdict.score, verdict.reasons, verdict.campaign_id
        )

    def observe(self, event: Event) -> None:
        """The request was already judged in ``decide``; nothing more to learn from the answer."""
        return None


def shared_states(hook: object) -> list[SharedState]:
    """The shared states of the engines inside a gateway's decision hook (a chain, a response
    policy, an engine): what the host must keep folding between requests."""
    found: list[SharedState] = []
    if isinstance(hook, Engine):
        if hook.shared is not None:
            found.append(hook.shared)
        return found
    engine = getattr(hook, "engine", None)
    if isinstance(engine, Engine):
        found += shared_states(engine)
    for inner in getattr(hook, "hooks", ()):
        found += shared_states(inner)
    return found
