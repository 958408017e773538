"""The response policy as the gateway's decision hook: detection, stored decisions, peer
intelligence and the rules, turned into one action per request.

Order of precedence: an ``allow`` override (a granted appeal) wins over everything; otherwise
the strongest of the stored actions that match the request (the account, its key, campaign, IP
range, payment or client fingerprint, prompt template) and the rules' proposal. Review opens a
queue item once per account and serves ``review.while_pending`` meanwhile. In shadow mode the
request is served untouched and the event records what would have happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from distillguard.engine import Engine, Verdict
from distillguard.events import Event
from distillguard.features.request import RequestFeatures, client_signature, extract
from distillguard.features.text import last_user_text, skeleton
from distillguard.gateway.decision import Decision, RequestContext
from distillguard.policy.buckets import Buckets, Limit, MemoryBuckets
from distillguard.policy.ratelimit import rate_limited
from distillguard.policy.rules import Facts, evaluate, strongest
from distillguard.policy.sharing import CampaignSharing
from distillguard.policy.snapshot import DecisionCache, DecisionSnapshot, Subject
from distillguard.report.tape import Tape
from distillguard.scoring.combine import campaign_score
from distillguard.store.decisions import LADDER, StoredAction

log = logging.getLogger(__name__)

SAMPLES_PER_ACCOUNT = 3
MAX_SAMPLED_ACCOUNTS = 100_000


@dataclass(slots=True)
class AccountSample:
    skeletons: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)


class DecisionsUnavailable(RuntimeError):
    """The decisions store could not be read for longer than the staleness bound."""


def subject_of(ctx: RequestContext, f: RequestFeatures | None, campaign_id: str | None) -> Subject:
    if f is None:
        return Subject(ctx.account_id, ctx.api_key_id, ctx.ip, campaign_id)
    return Subject(
        ctx.account_id,
        ctx.api_key_id,
        ctx.ip,
        campaign_id,
        f.payment,
        f"{client_signature(f):016x}",
        tuple(str(s) for s in f.segments),
    )


class ResponsePolicy:
    """Implements the gateway's ``DecisionHook``."""

    def __init__(
        self,
        engine: Engine,
        cache: DecisionCache,
        *,
        fail_mode: str = "closed",
        buckets: Buckets | None = None,
    ):
        self.engine = engine
        self.cache = cache
        self.fail_mode = fail_mode
        self.buckets: Buckets = buckets or MemoryBuckets()
        self._levels: dict[str, int] = {}  # the highest ladder step each account reached
        # A few prompt skeletons and user agents of each flagged account: what intel export
        # shares for a campaign (as MinHash signatures and hashes, never as text).
        self.samples: dict[str, AccountSample] = {}
        self.tape: Tape | None = None  # what the dashboard's timelines are drawn from
        self.sharing: CampaignSharing | None = None  # flagged campaigns -> every replica

    # inputs ----------------------------------------------------------------------------
    def _score(self, ctx: RequestContext) -> tuple[RequestFeatures | None, Verdict | None]:
        messages = ctx.body.get("messages")
        if not messages:
            return None, None
        f = extract(ctx.to_event(), self.engine.matcher, self.engine.text_cache)
        return f, self.engine.judge(f)

    def _intel_kinds(self, snap: DecisionSnapshot, ctx: RequestContext) -> frozenset[str]:
        matcher = snap.intel_matcher
        if matcher is None:
            return frozenset()
        meta = ctx.account_meta or {}
        payment = meta.get("payment_fingerprint")
        hits = list(
            matcher.match(
                ctx.ip, payment if isinstance(payment, str) else None, ctx.user_agent, None
            )
        )
        if snap.intel_templates:
            text = last_user_text(ctx.body.get("messages") or [])
            hits += matcher.match_template(skeleton(text)) if text else []
        return frozenset(h.kind for h in hits)

    def _facts(
        self, ctx: RequestContext, verdict: Verdict | None, intel: frozenset[str], boost: float
    ) -> Facts:
        if verdict is None:
            return Facts(0.0, 0.0, 0.0, False, False, 0, intel_kinds=intel)
        record = self.engine.accounts[ctx.account_id]
        _, stats = self.engine.campaign(ctx.account_id)
        camp = campaign_score(stats, self.engine.config.scoring) if stats.accounts >= 2 else 0.0
        own = min(1.0, record.score + (boost if intel else 0.0))
        return Facts(
            score=max(own, camp),
            account_score=own,
            campaign_score=camp,
            flagged=verdict.flagged,
            in_campaign=verdict.campaign_id is not None,
            requests=record.requests,
            signals=dict(record.values),
            intel_kinds=intel,
            account_meta=dict(ctx.account_meta or {}),
        )

    # the hook ----------------------------------------------------------------------------
    def decide(self, ctx: RequestContext) -> Decision:
        f, verdict = self._score(ctx)
        if self.sharing is not None and verdict is not None and verdict.campaign_id:
            self._share(verdict.campaign_id, verdict.flagged, ctx.account_id)
        decision = self._decide(ctx, f, verdict)
        if self.tape is not None and f is not None:
            values = self.engine.accounts[ctx.account_id].values
            self.tape.record(
                ctx.ts, ctx.account_id, decision.action, f.capability, decision.score, values
            )
        return decision

    def _share(self, campaign_id: str, flagged: bool, account: str) -> None:
        sharing = self.sharing
        if sharing is None or not flagged:
            return
        _, stats = self.engine.campaign(account)
        if not sharing.due(campaign_id, stats.accounts):
            return
        try:
            sharing.publish(self.engine, campaign_id, self.samples)
            self.cache.refresh(force=True)
        except Exception:
            # Tried at this size: a store that is down is not asked again on every request.
            sharing.mark(campaign_id, stats.accounts)
            log.exception("could not share campaign %s with the other replicas", campaign_id)

    def _decide(
        self, ctx: RequestContext, f: RequestFeatures | None, verdict: Verdict | None
    ) -> Decision:
        if verdict is not None and verdict.flagged:
            self._keep_sample(ctx)
        cache = self.cache
        stale = not cache.fresh
        if stale and self.fail_mode == "closed":
            raise DecisionsUnavailable("the decisions store has not been readable")
        snap, policy = cache.snapshot, cache.policy
        intel = self._intel_kinds(snap, ctx)
        facts = self._facts(ctx, verdict, intel, policy.intel_boost)
        campaign_id = verdict.campaign_id if verdict else None
        stored = snap.matches(subject_of(ctx, f, campaign_id))
        reasons = list(verdict.reasons) if verdict and verdict.flagged else []
        if intel:
            reasons.append(f"matches peer intelligence ({', '.join(sorted(intel))})")
        if stale:
            reasons.append("decisions store unreadable; serving on the last snapshot (fail-open)")
        overrides = [a for a in stored if a.action == "allow"]
        if overrides:
            # A granted appeal beats the rules and every action taken before it; an action
            # taken after it (the account re-offends, an analyst re-blocks) still counts.
            override = max(overrides, key=lambda a: a.created_ts)
            stored = [
                a for a in stored if a.action != "allow" and a.created_ts > override.created_ts
            ]
            self._levels.pop(ctx.account_id, None)  # a new climb is audited afresh
            if not stored:
                reasons.insert(0, f"allowed by action #{override.id}: {override.reason}")
                return Decision("allow", facts.score, tuple(reasons), campaign_id)
        proposals = [(a.action, _why(a)) for a in stored]
        ruled = None if overrides else evaluate(policy, facts)
        if ruled is not None and not (
            ruled[0] == "review" and ("account", ctx.account_id) in snap.resolved_reviews
        ):  # a human already decided; their decision is a stored action
            proposals.append(ruled)
        chosen = strongest(proposals)
        if chosen is None:
            return Decision("allow", facts.score, tuple(reasons), campaign_id)
        action, why = chosen
        also = [w for _, w in proposals if w != why][:3]  # other matches, for the reviewer
        reasons[:0] = [why, *also]
        self._climb(ctx.account_id, action, why, reasons, facts)
        if policy.mode == "shadow":
            return Decision("flag", facts.score, (f"shadow: would {action}", *reasons), campaign_id)
        return self._act(ctx, action, facts.score, reasons, campaign_id, snap)

    def _act(
        self,
        ctx: RequestContext,
        action: str,
        score: float,
        reasons: list[str],
        campaign_id: str | None,
        snap: DecisionSnapshot,
    ) -> Decision:
        policy = self.cache.policy
        if action == "review":
            if ("account", ctx.account_id) not in snap.open_reviews:
                self._open_review(ctx.account_id, reasons, campaign_id)
            action = policy.review.while_pending
            reasons.append(f"queued for review; meanwhile {action}")
        if action == "throttle":
            return self._throttle(ctx, score, reasons, campaign_id)
        if action == "degrade":
            return Decision("degrade", score, tuple(reasons), campaign_id, degrade=policy.degrade)
        if action == "block":
            return Decision("block", score, tuple(reasons), campaign_id)
        return Decision("flag" if action == "flag" else "allow", score, tuple(reasons), campaign_id)

    def _throttle(
        self, ctx: RequestContext, score: float, reasons: list[str], campaign_id: str | None
    ) -> Decision:
        cfg = self.cache.policy.throttle
        account = ctx.account_id
        rpm = cfg.requests_per_minute
        limits = [(Limit("throttle:requests", account, rpm, 1, 1), f"{rpm} requests/minute")]
        if cfg.tokens_per_minute is not None:
            # The answer may run to the model's limit when the client sets none; charged up
            # front, as usage is not known yet.
            ceiling = ctx.max_tokens or self.cache.policy.degrade.max_tokens_cap or 4096
            estimate = ctx.prompt_tokens_estimate + ceiling
            tpm = cfg.tokens_per_minute
            limits.append(
                (Limit("throttle:tokens", account, tpm, estimate, estimate), f"{tpm} tokens/minute")
            )
        wait, index = self.buckets.take([x for x, _ in limits], ctx.ts)
        if wait > 0:
            what = limits[index][1]
            return rate_limited(what, wait, (f"throttled to {what}", *reasons), score, campaign_id)
        return Decision("flag", score, ("throttled; within the cap", *reasons), campaign_id)

    def _open_review(self, account: str, reasons: list[str], campaign_id: str | None) -> None:
        try:
            self.cache.store.open_review(
                "account",
                account,
                reasons=reasons,
                evidence={"campaign_id": campaign_id},
                actor="policy",
            )
            self.cache.snapshot.open_reviews.add(("account", account))
        except Exception:
            log.exception("could not queue %s for review", account)

    def _climb(self, account: str, action: str, why: str, reasons: list[str], facts: Facts) -> None:
        """Audit each step an account takes up the ladder (once per step, not per request)."""
        level = LADDER.index(action)
        if level <= self._levels.get(account, 0):
            return
        try:
            self.cache.store.record(
                actor="policy",
                what="ladder" if self.cache.policy.mode == "enforce" else "ladder (shadow)",
                target_kind="account",
                target=account,
                action=action,
                reasons=[why, *reasons[1:4]],
                evidence={"score": round(facts.score, 4), "signals": _top(facts.signals)},
            )
        except Exception:
            log.exception("could not audit %s moving to %s", account, action)
            return
        self._levels[account] = level

    def _keep_sample(self, ctx: RequestContext) -> None:
        kept = self.samples.get(ctx.account_id)
        if kept is None:
            if len(self.samples) >= MAX_SAMPLED_ACCOUNTS:
                return
            kept = self.samples[ctx.account_id] = AccountSample()
        if len(kept.skeletons) < SAMPLES_PER_ACCOUNT:
            text = last_user_text(ctx.body.get("messages") or [])
            if text:
                kept.skeletons.append(skeleton(text))
        if ctx.user_agent and len(kept.user_agents) < SAMPLES_PER_ACCOUNT:
            kept.user_agents.add(ctx.user_agent)

    def observe(self, event: Event) -> None:
        return None


def _why(action: StoredAction) -> str:
    return f"action #{action.id} ({action.target_kind} {action.target}): {action.reason}"


def _top(signals: dict[str, float], n: int = 5) -> dict[str, Any]:
    return {k: round(v, 4) for k, v in sorted(signals.items(), key=lambda kv: -kv[1])[:n]}
