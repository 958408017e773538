"""Decide and enforce, shared by everything that puts distillguard in a request's path: the
gateway, and the hosts that proxy themselves (Envoy's ext_authz, a LiteLLM guardrail)."""

from __future__ import annotations

import logging

from distillguard.gateway.decision import Decision, DecisionHook, RequestContext
from distillguard.gateway.errors import GatewayError
from distillguard.gateway.recording import EventDraft
from distillguard.gateway.validation import ChatRequest
from distillguard.store.keys import ApiKey

log = logging.getLogger(__name__)


def request_context(draft: EventDraft, key: ApiKey, chat: ChatRequest) -> RequestContext:
    """What the decision hook sees of an authenticated, parsed chat request."""
    return RequestContext(
        ts=draft.ts,
        request_id=draft.request_id,
        account_id=key.account_id,
        api_key_id=key.key_id,
        ip=draft.ip,
        user_agent=draft.user_agent,
        model=chat.model,
        body=chat.body,
        prompt_tokens_estimate=chat.prompt_tokens_estimate,
        max_tokens=chat.max_tokens,
        account_meta=key.account_meta,
    )


def decide_or_fail(
    hook: DecisionHook, ctx: RequestContext, draft: EventDraft, mode: str
) -> Decision:
    """Ask the hook; when it fails, follow the fail mode (``open`` | ``closed``) explicitly."""
    try:
        decision = hook.decide(ctx)
    except Exception:
        log.exception("decision hook failed for %s (fail-%s)", ctx.request_id, mode)
        if mode == "open":
            decision = Decision("allow", 0.0, ("decision hook failed; fail-open",))
        else:
            draft.decision = Decision("block", 0.0, ("decision hook failed; fail-closed",))
            raise GatewayError(
                503,
                "The request could not be checked right now; try again shortly.",
                "api_error",
                "decision_unavailable",
                headers={"retry-after": "1"},
            ) from None
    draft.decision = decision
    return decision


def enforce(decision: Decision) -> None:
    """Refusals as the OpenAI API words them: 403 for a block (the SDK never retries it),
    429 + ``Retry-After`` for a throttle."""
    if decision.action == "block":
        raise GatewayError(
            403,
            decision.message or "This account is not allowed to use the API.",
            "permission_error",
            "access_denied",
            headers={"x-should-retry": "false"},
        )
    if decision.action == "throttle":
        retry = max(1, int(decision.retry_after_s or 1))
        raise GatewayError(
            429,
            decision.message or f"Rate limit reached. Try again in {retry}s.",
            "rate_limit_error",
            "rate_limit_exceeded",
            headers={"retry-after": str(retry)},
        )
