from __future__ import annotations

import ipaddress
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from distillguard.events import validate_event
from distillguard.sim.attacks import FACTORIES
from distillguard.sim.context import SimContext, SourceSpec, TemplateBank
from distillguard.sim.core import (
    CURRENT_MODEL,
    DAY,
    HOUR,
    NEW_MODEL,
    SimAccount,
    SimRequest,
    SimWindow,
    to_event,
)
from distillguard.sim.resources import DataBank
from distillguard.sim.templates import Purpose, Template, bank

START = datetime(2026, 2, 2, tzinfo=UTC).timestamp()
WINDOW = SimWindow(start=START, days=7, release_ts=START + 4 * DAY)
SEED = 20260202
# Small campaigns: (accounts, requests_per_account); None keeps the archetype's own volume.
SIZES: dict[str, tuple[int, int | None]] = {
    "reasoning-harvest": (4, 60),
    "rubric-grading": (3, 60),
    "censorship-rewrite": (3, 60),
    "agentic-coding": (3, 60),
    "computer-use": (3, 50),
    "hydra-reseller": (80, None),
    "release-surge": (4, 120),
    "logprob-harvest": (3, 50),
    "multilingual-reasoning": (4, 60),
    "evasive": (12, None),
}
ROLES = {"system", "developer", "user", "assistant", "tool"}
SCORE_ASK = re.compile(
    r"score|rate|rating|points|grade|judge|assess|evaluat|how good|ten-point|打分|оцени", re.I
)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass
class Run:
    accounts: list[SimAccount]
    requests: list[SimRequest]

    def by_account(self) -> dict[str, list[SimRequest]]:
        out: dict[str, list[SimRequest]] = defaultdict(list)
        for r in self.requests:
            out[r.account_id].append(r)
        return out


@pytest.fixture(scope="module")
def data() -> DataBank:
    return DataBank(sharegpt_limit=3000)


def _ctx(data: DataBank, template_bank: TemplateBank, seed: int = SEED) -> SimContext:
    return SimContext(seed=seed, window=WINDOW, bank=data, template_bank=template_bank)


def _run(ctx: SimContext, kind: str, *, default_volume: bool = False, **options: Any) -> Run:
    accounts, per = SIZES[kind]
    per = None if default_volume else per
    spec = SourceSpec(kind, accounts, f"{kind}-t", per, options)
    source = FACTORIES[kind](ctx, spec)
    return Run(list(source.accounts()), list(source.requests()))


@pytest.fixture(scope="module")
def runs(data: DataBank) -> dict[tuple[str, TemplateBank], Run]:
    return {
        (kind, tb): _run(_ctx(data, tb), kind) for tb in ("tuning", "heldout") for kind in FACTORIES
    }


def _user_texts(req: SimRequest) -> list[str]:
    out = []
    for m in req.body["messages"]:
        if m["role"] != "user":
            continue
        c = m["content"]
        out.append(c if isinstance(c, str) else "\n".join(p.get("text", "") for p in c))
    return out


def _last_user(req: SimRequest) -> str:
    return _user_texts(req)[-1]


def _matches(template: Template, text: str) -> bool:
    """Whether ``text`` could be ``template`` filled: its literal parts appear in order."""
    parts = re.split(r"\{[a-z_]+\}", template.text)
    if not (text.startswith(parts[0]) and text.endswith(parts[-1])):
        return False
    pos = 0
    for part in parts:
        found = text.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def _which(tb: TemplateBank, purposes: tuple[Purpose, ...], text: str) -> str | None:
    b = bank(tb)
    return next((t.text for p in purposes for t in b.get(p) if _matches(t, text)), None)


def _from(tb: TemplateBank, purposes: tuple[Purpose, ...], text: str) -> bool:
    b = bank(tb)
    return any(_matches(t, text) for p in purposes for t in b.get(p))


def _block(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _skeleton(text: str) -> str:
    return " ".join(re.sub(r"\d+", "0", text.lower()).split())


def _local_hour(ts: float, offset: float) -> int:
    return int(((ts + offset * HOUR) % DAY) // HOUR)


# --- every archetype -------------------------------------------------------------------------


def test_registry_has_every_archetype() -> None:
    assert set(FACTORIES) == set(SIZES)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
@pytest.mark.parametrize("kind", sorted(SIZES))
def test_builds_sorted_inside_window_with_opaque_labelled_accounts(
    runs: dict[tuple[str, TemplateBank], Run], kind: str, tb: TemplateBank
) -> None:
    run = runs[(kind, tb)]
    assert run.requests
    assert len(run.accounts) == SIZES[kind][0]
    ts = [r.ts for r in run.requests]
    assert ts == sorted(ts)
    assert WINDOW.start <= ts[0] and ts[-1] < WINDOW.end
    ids = {a.account_id for a in run.accounts}
    assert len(ids) == len(run.accounts)
    assert {r.account_id for r in run.requests} <= ids
    campaigns = {a.campaign_id for a in run.accounts}
    assert len(campaigns) == 1 and None not in campaigns
    for a in run.accounts:
        assert a.label == "attack" and a.kind == kind
        assert re.fullmatch(r"acct_[0-9a-f]{12}", a.account_id)
        assert {"created_at", "signup_channel", "payment_fingerprint", "country"} <= set(a.meta)
        assert a.meta["created_at"] < WINDOW.end
    camp = next(iter(campaigns))
    assert camp is not None
    for r in run.requests[:: max(1, len(run.requests) // 200)]:
        assert re.fullmatch(r"key_[0-9a-f]{12}", r.api_key_id)
        identity = " ".join((r.account_id, r.api_key_id, r.user_agent, r.ip)).lower()
        assert "attack" not in identity and "distil" not in identity
        assert camp not in orjson.dumps(r.body).decode()
        for m in r.body["messages"]:
            if m["role"] == "system":
                assert not re.search(r"attack|distil|harvest", m["content"], re.I)


def _check_body(body: dict[str, Any]) -> None:
    assert isinstance(body["model"], str)
    messages = body["messages"]
    assert messages and isinstance(messages, list)
    calls: set[str] = set()
    for m in messages:
        assert m["role"] in ROLES
        content = m.get("content")
        if m["role"] == "assistant" and m.get("tool_calls"):
            assert content is None or isinstance(content, str)
            for call in m["tool_calls"]:
                assert call["type"] == "function"
                json.loads(call["function"]["arguments"])
                calls.add(call["id"])
        elif m["role"] == "tool":
            assert m["tool_call_id"] in calls and isinstance(content, str)
        elif isinstance(content, list):
            for part in content:
                assert part["type"] in ("text", "image_url")
                if part["type"] == "text":
                    assert isinstance(part["text"], str)
                else:
                    assert part["image_url"]["url"].startswith("data:image/png;base64,")
        else:
            assert isinstance(content, str) and content
    assert messages[-1]["role"] in ("user", "tool")
    for tool in body.get("tools", []):
        assert tool["type"] == "function" and tool["function"]["parameters"]["type"] == "object"
    for key in ("max_tokens", "max_completion_tokens", "n", "top_logprobs"):
        assert key not in body or (isinstance(body[key], int) and body[key] > 0)
    if "temperature" in body:
        assert 0.0 <= body["temperature"] <= 2.0


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
@pytest.mark.parametrize("kind", sorted(SIZES))
def test_bodies_are_chat_completions_and_events_valid(
    runs: dict[tuple[str, TemplateBank], Run], kind: str, tb: TemplateBank
) -> None:
    run = runs[(kind, tb)]
    meta = {a.account_id: a.meta for a in run.accounts}
    for r in run.requests:
        _check_body(r.body)
        assert r.answer
        event = validate_event(to_event(r, meta[r.account_id]))
        orjson.dumps(event)
        assert event["response"]["completion_tokens"] >= 1
        if r.reasoning:
            assert event["response"]["reasoning_tokens"] > 0


@pytest.mark.parametrize("kind", sorted(SIZES))
def test_deterministic_per_seed(
    data: DataBank, runs: dict[tuple[str, TemplateBank], Run], kind: str
) -> None:
    again = _run(_ctx(data, "tuning"), kind)
    first = runs[(kind, "tuning")]
    assert again.accounts == first.accounts
    assert [to_event(r, None) for r in again.requests] == [
        to_event(r, None) for r in first.requests
    ]
    other = _run(_ctx(data, "tuning", seed=SEED + 1), kind)
    assert {a.account_id for a in other.accounts}.isdisjoint(a.account_id for a in first.accounts)
    assert [r.ts for r in other.requests] != [r.ts for r in first.requests]


def test_unknown_option_is_rejected(data: DataBank) -> None:
    with pytest.raises(ValueError, match="unknown options"):
        FACTORIES["evasive"](_ctx(data, "tuning"), SourceSpec("evasive", 2, "e", None, {"x": 1}))


def test_heldout_campaigns_use_no_tuning_scaffold(
    runs: dict[tuple[str, TemplateBank], Run],
) -> None:
    purposes: tuple[Purpose, ...] = ("reasoning-harvest", "cot-reconstruction", "rubric-grading")
    for kind in ("reasoning-harvest", "rubric-grading"):
        for r in runs[(kind, "heldout")].requests:
            assert not _from("tuning", purposes, _last_user(r))


# --- each archetype shows the traits it claims -------------------------------------------------


def _shared_blocks(run: Run) -> Counter[str]:
    """How many accounts use each address block."""
    users: dict[str, set[str]] = defaultdict(set)
    for r in run.requests:
        users[_block(r.ip)].add(r.account_id)
    return Counter({b: len(a) for b, a in users.items()})


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_reasoning_harvest_elicits_cot_single_turn_with_fixed_params(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    run = runs[("reasoning-harvest", tb)]
    reqs = run.requests
    cot: tuple[Purpose, ...] = ("reasoning-harvest", "cot-reconstruction")
    assert sum(_from(tb, cot, _last_user(r)) for r in reqs) >= 0.8 * len(reqs)
    assert all(len(_user_texts(r)) == 1 for r in reqs)
    assert not any(m["role"] == "assistant" for r in reqs for m in r.body["messages"])
    assert sum(bool(r.reasoning) for r in reqs) >= 0.6 * len(reqs)
    # One parameter signature, one client family, across the whole campaign.
    signatures = {
        (r.body.get("temperature"), r.body.get("max_tokens"), r.body.get("max_completion_tokens"))
        for r in reqs
    }
    assert len(signatures) == 1
    ceiling = next(iter(signatures))
    assert (ceiling[1] or ceiling[2] or 10**6) >= 8192
    assert all(r.user_agent.startswith("OpenAI/Python") for r in reqs)
    # Young accounts, shared cards and cloud /24s.
    assert all(START - 14 * DAY < a.meta["created_at"] < START for a in run.accounts)
    cards = {a.meta["payment_fingerprint"] for a in run.accounts}
    assert len(cards) < len(run.accounts)
    assert max(_shared_blocks(run).values()) >= 2


def test_reasoning_harvest_default_volume_runs_around_the_clock(data: DataBank) -> None:
    run = _run(_ctx(data, "tuning"), "reasoning-harvest", default_volume=True)
    per = run.by_account()
    assert all(300 <= len(v) <= 900 for v in per.values())
    hours = Counter(_local_hour(r.ts, 0) for r in run.requests)
    # No night-time lull: the six quietest UTC hours still carry a fair share (a person: ~2%).
    quiet = sorted(hours.values())[:6]
    assert len(hours) >= 22 and sum(quiet) >= 0.08 * len(run.requests)


def test_reasoning_harvest_sweeps_tasks_and_reconstructs_cot(data: DataBank) -> None:
    run = _run(_ctx(data, "tuning"), "reasoning-harvest", reconstruction_share=1.0)
    texts = [_last_user(r) for r in run.requests]
    assert all(_from("tuning", ("cot-reconstruction",), t) for t in texts)
    # The sweep rarely repeats a task within an account.
    for reqs in run.by_account().values():
        prompts = [_last_user(r) for r in reqs]
        assert len(set(prompts)) >= 0.8 * len(prompts)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_rubric_grading_prompts_carry_rubric_and_score_request(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    reqs = runs[("rubric-grading", tb)].requests
    templates = [t for t in bank(tb).get("rubric-grading") if any(
        _matches(t, _last_user(r)) for r in reqs)]  # fmt: skip
    assert len(templates) <= 2  # extreme template reuse
    for r in reqs:
        text = _last_user(r)
        assert "Scale: 1 = unacceptable" in text and "10" in text
        assert SCORE_ASK.search(text)
        verdict = json.loads(r.answer)
        assert 1 <= next(iter(verdict.values())) <= 10
        assert to_event(r, None)["response"]["completion_tokens"] < 100


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_censorship_rewrite_many_chinese(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    reqs = runs[("censorship-rewrite", tb)].requests
    assert all(_from(tb, ("censorship-rewrite",), _last_user(r)) for r in reqs)
    chinese = sum(len(CJK.findall(_last_user(r)[:80])) >= 10 for r in reqs)
    assert chinese >= 0.4 * len(reqs)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_agentic_coding_tools_on_single_turn(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    reqs = runs[("agentic-coding", tb)].requests
    assert all(r.body["tools"] and len(_user_texts(r)) == 1 for r in reqs)
    transcripts = [r for r in reqs if any(m["role"] == "tool" for m in r.body["messages"])]
    assert 0.05 * len(reqs) <= len(transcripts) <= 0.5 * len(reqs)
    assert any("```python" in r.answer for r in reqs)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_computer_use_sends_short_images(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    for r in runs[("computer-use", tb)].requests:
        parts = [p for m in r.body["messages"] if isinstance(m["content"], list)
                 for p in m["content"]]  # fmt: skip
        images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert images
        assert all(len(u.split(",", 1)[1]) <= 200 for u in images)
        assert "action" in json.loads(r.answer)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_hydra_small_mixed_accounts_sharing_infrastructure_in_waves(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    run = runs[("hydra-reseller", tb)]
    per = run.by_account()
    assert max(len(v) for v in per.values()) <= 30
    genuine = sum(not r.harvest for r in run.requests) / len(run.requests)
    assert 0.3 <= genuine <= 0.7
    assert any(len(_user_texts(r)) > 1 for r in run.requests if not r.harvest)
    blocks = _shared_blocks(run)
    assert sum(n >= 2 for n in blocks.values()) >= 0.5 * len(blocks)
    assert any(":" in r.ip for r in run.requests) and any("." in r.ip for r in run.requests)
    assert statistics.median(len({r.ip for r in v}) for v in per.values()) >= 2
    cards = Counter(a.meta["payment_fingerprint"] for a in run.accounts)
    assert len(cards) <= len(run.accounts) // 10 and min(cards.values()) >= 2
    assert len({r.user_agent for r in run.requests}) >= 8
    # Accounts are created in batches: a few signup bursts of about an hour or two each.
    bursts = {round(a.meta["created_at"] / (6 * HOUR)) for a in run.accounts}
    assert len(bursts) <= len(run.accounts) // 20 + 2
    # One scaffold network-wide, fired in synchronised waves.
    harvest = [r for r in run.requests if r.harvest]
    purposes: tuple[Purpose, ...] = ("reasoning-harvest", "agentic-coding")
    used = {_which(tb, purposes, _last_user(r)) for r in harvest}
    assert None not in used and len(used) <= 2

    def crowd(reqs: list[SimRequest]) -> float:
        buckets: dict[int, set[str]] = defaultdict(set)
        for r in reqs:
            buckets[int(r.ts // 900)].add(r.account_id)
        return statistics.median(len(buckets[int(r.ts // 900)]) for r in reqs)

    assert crowd(harvest) >= 4
    assert crowd(harvest) >= 3 * crowd([r for r in run.requests if not r.harvest])


def test_release_surge_pivots_within_a_day(runs: dict[tuple[str, TemplateBank], Run]) -> None:
    reqs = runs[("release-surge", "tuning")].requests
    release = WINDOW.release_ts
    before = [r for r in reqs if r.ts < release]
    first_day = [r for r in reqs if release <= r.ts < release + DAY]
    assert before and first_day
    assert all(r.body["model"] == CURRENT_MODEL for r in before)
    new = sum(r.body["model"] == NEW_MODEL for r in first_day) / len(first_day)
    assert new >= 0.5
    rate_before = len([r for r in before if r.ts >= release - 3 * DAY]) / 72
    assert len(first_day) / 24 >= 2 * rate_before


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_logprob_harvest_asks_for_soft_labels(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    for r in runs[("logprob-harvest", tb)].requests:
        b = r.body
        assert b["logprobs"] is True and 5 <= b["top_logprobs"] <= 20
        assert 2 <= b["n"] <= 8 and b["temperature"] == 1.0


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_multilingual_reasoning_is_mostly_non_latin(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    reqs = runs[("multilingual-reasoning", tb)].requests
    non_ascii = [sum(not c.isascii() for c in _last_user(r)) for r in reqs]
    assert sum(n >= 10 for n in non_ascii) >= 0.6 * len(reqs)
    assert sum(not r.answer.isascii() for r in reqs) >= 0.6 * len(reqs)
    assert all(r.reasoning for r in reqs)


@pytest.mark.parametrize("tb", ["tuning", "heldout"])
def test_evasive_has_no_shared_skeleton_and_looks_human(
    runs: dict[tuple[str, TemplateBank], Run], tb: TemplateBank
) -> None:
    run = runs[("evasive", tb)]
    harvest = [r for r in run.requests if r.harvest]
    skeletons = Counter(_skeleton(_last_user(r)) for r in harvest)
    assert max(skeletons.values()) <= 3
    prefixes = Counter(" ".join(_skeleton(_last_user(r)).split()[:6]) for r in harvest)
    assert max(prefixes.values()) <= 0.05 * len(harvest)
    followups = [r for r in harvest if len(_user_texts(r)) >= 2]
    assert len(followups) >= 0.05 * len(harvest)
    assert all(m["role"] in ("user", "assistant") for r in followups for m in r.body["messages"])
    genuine = sum(not r.harvest for r in run.requests) / len(run.requests)
    assert 0.1 <= genuine <= 0.5
    per = run.by_account()
    assert all(30 <= len(v) <= 150 for v in per.values())
    cards = {a.meta["payment_fingerprint"] for a in run.accounts}
    assert len(cards) >= 0.8 * len(run.accounts)
    assert all(a.meta["created_at"] < START - 14 * DAY for a in run.accounts)  # aged accounts
    assert max(_shared_blocks(run).values()) <= 2
    tz = {a.account_id: a for a in run.accounts}
    from distillguard.sim.resources import TZ_OFFSETS

    night = sum(
        _local_hour(r.ts, TZ_OFFSETS[tz[r.account_id].meta["country"]]) in (1, 2, 3, 4)
        for r in run.requests
    )
    assert night <= 0.08 * len(run.requests)
    # Still CoT-heavy in aggregate: most fresh harvest prompts ask for the reasoning somehow.
    assert sum(bool(r.reasoning) for r in harvest) >= 0.8 * len(harvest)


def test_evasions_can_be_switched_off(data: DataBank) -> None:
    run = _run(
        _ctx(data, "tuning"),
        "evasive",
        paraphrase=False,
        human_timing=False,
        followups=0.0,
        mixin_share=0.0,
        residential=False,
    )
    assert all(r.harvest and len(_user_texts(r)) == 1 for r in run.requests)
    assert all(_from("tuning", ("reasoning-harvest",), _last_user(r)) for r in run.requests)
    assert max(_shared_blocks(run).values()) >= 2
    assert len({_local_hour(r.ts, 0) for r in run.requests}) >= 20
