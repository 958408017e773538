from __future__ import annotations

import itertools
import random
import re
from collections.abc import Set

import pytest

from distillguard.sim.templates import (
    BANK_NAMES,
    PURPOSES,
    REQUIRED_SLOTS,
    SLOTS,
    BankName,
    Purpose,
    Template,
    bank,
)
from distillguard.sim.templates_paraphrase import expand

BANKS: tuple[BankName, ...] = ("tuning", "heldout")
# Any way of asking for the reasoning, in any of the banks' languages (deliberately broad: this
# checks the templates do what their purpose says, it is not a detector).
COT_CUE = re.compile(
    r"step|reason|think|thought|deriv|inferen|deduc|scratchpad|working|rationale|monologue"
    r"|chain|narrat|verbalis|explain|walk me through|unpack|argument|deliberation"
    r"|paso|razon|deducción|思考|推理|推断|步|шаг|рассужд|мысл|خطوة|تفكير|استنتاج|추론|단계|생각"
    r"|考え|ステップ|schritt|denkweg|déduction|inferência|विचार|suy luận|show_all_inferences",
    re.IGNORECASE,
)
REASONING_PURPOSES: tuple[Purpose, ...] = (
    "reasoning-harvest",
    "cot-reconstruction",
    "multilingual-reasoning",
)


def _words(text: str) -> set[tuple[str, ...]]:
    w = text.lower().split()
    return {tuple(w[i : i + 3]) for i in range(len(w) - 2)}


def _chars(text: str) -> set[str]:
    t = " ".join(text.lower().split())
    return {t[i : i + 6] for i in range(len(t) - 5)}


def _jaccard(a: Set[object], b: Set[object]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _all(name: BankName) -> list[tuple[Purpose, Template]]:
    b = bank(name)
    return [(p, t) for p in PURPOSES for t in b.get(p)]


@pytest.mark.parametrize("name", BANKS)
def test_every_purpose_has_at_least_eight_templates(name: BankName) -> None:
    b = bank(name)
    assert b.name == name
    for purpose in PURPOSES:
        assert len(b.get(purpose)) >= 8, purpose
        assert len({t.text for t in b.get(purpose)}) == len(b.get(purpose)), purpose


def test_banks_share_no_template_and_little_wording() -> None:
    tuning, heldout = _all("tuning"), _all("heldout")
    assert not {t.text for _, t in tuning} & {t.text for _, t in heldout}
    for (_, a), (_, b) in itertools.product(tuning, heldout):
        assert _jaccard(_words(a.text), _words(b.text)) < 0.5, (a.text, b.text)
        # Character shingles catch scripts written without spaces (Chinese, Japanese).
        assert _jaccard(_chars(a.text), _chars(b.text)) < 0.5, (a.text, b.text)


@pytest.mark.parametrize("name", BANKS)
def test_slots_are_the_purposes_and_render(name: BankName) -> None:
    values = {slot: f"<<{slot.upper()}-VALUE>>" for p in PURPOSES for slot in SLOTS[p]}
    for purpose, template in _all(name):
        assert template.slots <= SLOTS[purpose], (purpose, template.text)
        assert REQUIRED_SLOTS[purpose] <= template.slots, (purpose, template.text)
        out = template.render(**values)
        assert not re.search(r"\{[a-z_]+\}", out), out
        for slot in template.slots:
            assert values[slot] in out
        if template.lang == "*":
            assert "language" in template.slots


@pytest.mark.parametrize("name", BANKS)
def test_templates_do_what_their_purpose_says(name: BankName) -> None:
    b = bank(name)
    for purpose in REASONING_PURPOSES:
        for template in b.get(purpose):
            assert COT_CUE.search(template.text), (purpose, template.text)
    score_ask = re.compile(
        r"score|rate|rating|points|grade|judge|assess|evaluat|how good|ten-point|打分|оцени", re.I
    )
    for template in b.get("rubric-grading"):
        assert "10" in template.text and score_ask.search(template.text), template.text
    langs = {t.lang for t in b.get("multilingual-reasoning")}
    assert len(langs - {"en", "*"}) >= 6
    assert sum(t.lang == "zh" for t in b.get("censorship-rewrite")) >= 4


def test_missing_slot_value_raises_and_unknown_bank_rejected() -> None:
    with pytest.raises(KeyError):
        Template("Q: {question}").render(answer="x")
    with pytest.raises(ValueError, match="unknown template bank"):
        bank("other")  # type: ignore[arg-type]


def test_expand_resolves_every_choice() -> None:
    rng = random.Random(1)
    outs = {expand(rng, "[a|b|] x [c|d]") for _ in range(200)}
    assert outs == {f"{a} x {c}" for a in ("a", "b", "") for c in ("c", "d")}


@pytest.mark.parametrize("name", BANK_NAMES)
def test_paraphraser_outputs_differ_pairwise(name: BankName) -> None:
    para = bank(name).paraphraser
    rng = random.Random(42)
    question = "What is 17 times 23?"
    prompts = [para.compose(rng, question, cot=True) for _ in range(300)]
    assert len(set(prompts)) == len(prompts)
    assert all(question in p for p in prompts)
    bare = [para.compose(rng, question, cot=False) for _ in range(100)]
    assert len(set(bare)) >= 90
    followups = [para.followup(rng) for _ in range(300)]
    assert len(set(followups)) >= 250
    # Prompts do not share an opening: no 5-word prefix is used by more than a few.
    prefixes = [" ".join(p.lower().split()[:5]) for p in prompts]
    assert max(prefixes.count(x) for x in set(prefixes)) <= 0.1 * len(prompts)


@pytest.mark.parametrize(("first", "second"), list(itertools.combinations(BANK_NAMES, 2)))
def test_paraphrasers_of_the_banks_share_no_fragment(first: BankName, second: BankName) -> None:
    a, b = bank(first).paraphraser, bank(second).paraphraser
    fields = ("openers", "contexts", "cot_asks", "format_asks", "closers", "frames")
    for field in fields:  # (the bare question, "{q}", is no one's wording)
        assert not set(getattr(a, field)) & set(getattr(b, field)) - {"{q}"}, field
    for x, y in itertools.product(a.cot_asks, b.cot_asks):
        assert _jaccard(_words(x), _words(y)) < 0.5


@pytest.mark.parametrize("name", ["dev", "dev2"])
def test_dev_banks_are_the_tuning_templates_with_their_own_paraphraser(name: BankName) -> None:
    dev, tuning = bank(name), bank("tuning")
    assert dev.name == name
    assert dev.templates == tuning.templates
    assert dev.paraphraser != tuning.paraphraser
