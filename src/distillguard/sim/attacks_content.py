"""What campaigns ask and what the simulated model answers, all from recorded data.

Questions come from ShareGPT's attack pool, HumanEval and reasoning-gym. Answers are the
recorded ShareGPT reply, HumanEval's canonical solution, or reasoning-gym's answer inside a fixed
worked-solution frame. Simulated reasoning is assembled from the answer's own lines and stock
phrases, so ``reasoning_tokens`` is counted without generating anything with a model.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from distillguard.data.sharegpt import Conversation
from distillguard.sim.attacks_lang import lang
from distillguard.sim.context import SimContext
from distillguard.sim.core import stable_id
from distillguard.sim.resources import Pool

MAX_TEXT: Final = 6000  # characters kept of one recorded message (bounds memory per request)

CODE_RE: Final = re.compile(
    r"```|\b(def|class|function|python|javascript|java|c\+\+|sql|code|script|api|bug|error|"
    r"compile|regex|typescript|react|html|css)\b",
    re.IGNORECASE,
)
REASONING_RE: Final = re.compile(
    r"\b(solve|prove|calculate|compute|derive|equation|probability|math|logic|puzzle|why|"
    r"explain|reason|how many|algorithm|step by step|formula)\b",
    re.IGNORECASE,
)
_EXPR: Final = re.compile(r"[-(\d][\d\s+\-*/().]*[\d)]")
_SENTENCE: Final = re.compile(r"(?<=[.!?])\s+")

# reasoning-gym datasets that build in well under a second at size 1000.
DEFAULT_DATASETS: Final = (
    "gsm_symbolic", "basic_arithmetic", "chain_sum", "family_relationships", "syllogism",
    "time_intervals", "fraction_simplification", "aiw", "calendar_arithmetic", "letter_counting",
)  # fmt: skip
NUMERIC_DATASETS: Final = frozenset({"basic_arithmetic", "chain_sum"})


@dataclass(frozen=True)
class Item:
    """One piece of harvestable material: what is asked and what the model says."""

    question: str
    recorded: str  # the recorded answer; "" frames ``gold`` as a worked solution on first use
    gold: str  # the short final answer ("" when the data has none)
    source: str  # "reasoning-gym:<dataset>", "sharegpt", "humaneval"
    expr: str = ""  # for arithmetic tasks: the bare expression, for localised prompts

    @functools.cached_property
    def answer(self) -> str:
        """The simulated model's full answer (framed lazily: most tasks are never asked)."""
        if self.recorded:
            return self.recorded
        rng = random.Random(stable_id(self.source, self.question))
        return worked_solution(rng, self.question, self.gold)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit]


def reasoning_items(ctx: SimContext, datasets: Sequence[str], size: int) -> list[Item]:
    """reasoning-gym tasks, interleaved across ``datasets`` so a sweep walks every family."""
    per: list[list[Item]] = []
    for name in datasets:
        rows = ctx.bank.reasoning_tasks(name, size, ctx.seed)
        items = []
        for row in rows:
            expr = ""
            if name in NUMERIC_DATASETS:
                found = _EXPR.findall(row["question"])
                expr = max(found, key=len) if found else ""
            items.append(Item(row["question"], "", row["answer"], f"reasoning-gym:{name}", expr))
        per.append(items)
    return [item for group in zip(*per, strict=False) for item in group]


def sharegpt_items(
    ctx: SimContext, pool: Pool, pattern: re.Pattern[str] | None = None
) -> list[Item]:
    """The first answered exchange of each conversation in ``pool`` matching ``pattern``."""
    out: list[Item] = []
    for conv in ctx.bank.sharegpt(pool):
        exchange = next(conv.exchanges(), None)
        if exchange is None or (pattern is not None and not pattern.search(exchange.prompt)):
            continue
        out.append(Item(clip(exchange.prompt), clip(exchange.answer), "", "sharegpt"))
    return out


def humaneval_items(ctx: SimContext) -> list[Item]:
    """HumanEval stubs; the answer is the completed function in a fenced block."""
    out = []
    for p in ctx.bank.humaneval:
        code = p["prompt"] + p["canonical_solution"]
        answer = (
            f"Here is a complete implementation of `{p['entry_point']}`:\n\n```python\n{code}```"
        )
        out.append(Item(p["prompt"], answer, p["entry_point"], "humaneval"))
    return out


_OPEN = ("Let's work through this carefully.", "Here is a full solution.", "Solution:")
_STEPS = (
    ("Read the problem", "Restate what is asked", "Identify the givens"),
    ("Set up the relationships between the quantities", "Choose a method", "Plan the steps"),
    ("Carry out the computation", "Work through each part in order", "Apply the method"),
    ("Check the result against the conditions", "Verify the answer", "Sanity-check the result"),
)


def worked_solution(rng: random.Random, question: str, gold: str, code: str = "en") -> str:
    """The recorded final answer inside a fixed numbered-steps frame (in language ``code``)."""
    phrases = lang(code)
    first = _SENTENCE.split(question.strip(), maxsplit=1)[0][:200]
    lines = [rng.choice(_OPEN) if code == "en" else phrases.opening]
    for n, options in enumerate(_STEPS, start=1):
        label = phrases.step.replace("{n}", str(n))
        detail = rng.choice(options) if code == "en" else rng.choice(phrases.thoughts)
        if n == 1:
            detail = f"{detail.rstrip('.')} - {first}"
        elif not detail.endswith((".", "。", "।")):
            detail += "."
        lines.append(f"{label}: {detail}")
    lines.append("")
    lines.append(phrases.final.replace("{gold}", gold))
    return "\n".join(lines)


_THINK_EN = (
    "Hmm, wait, let me re-check that.",
    "So far this looks consistent.",
    "Let me try it another way to be sure.",
    "Actually, I should reconsider the previous step.",
    "That matches what I expected.",
    "Okay, moving on.",
    "Let me make sure I haven't dropped anything.",
    "I think the approach is right.",
)
_LEADS = ("So", "Then", "Next", "Checking")


def simulated_reasoning(
    rng: random.Random, item: Item, *, code: str = "en", sentences: tuple[int, int] = (12, 60)
) -> str:
    """A raw "thinking" trace built from the item's own answer lines and stock phrases."""
    phrases = lang(code)
    out = [phrases.opening]
    n = rng.randint(*sentences)
    if code == "en":
        out.append(f"The question is about: {' '.join(item.question.split()[:14])}.")
        # Batched draws: this runs for most harvest requests, so it must stay cheap.
        lines = [ln.strip() for ln in item.answer[:4000].splitlines() if ln.strip()]
        k = n // 2 if lines else 0
        recalled = [
            f"{lead}: {line}"
            for lead, line in zip(rng.choices(_LEADS, k=k), rng.choices(lines, k=k), strict=True)
        ]
        musings = rng.choices(_THINK_EN, k=n - k)
        out += [s for pair in zip(musings, recalled, strict=False) for s in pair]
        out += musings[len(recalled) :]
    else:
        out += rng.choices(phrases.thoughts, k=n)
    if item.gold:
        out.append(phrases.final.replace("{gold}", item.gold))
    sep = "" if code in ("zh", "ja") else " "
    return sep.join(out)


def genuine_request(
    rng: random.Random, conv: Conversation, *, multi_turn: float = 0.3
) -> tuple[list[dict[str, Any]], str]:
    """A real customer's request from a recorded conversation, sometimes later in the chat."""
    exchanges = list(conv.exchanges())
    if not exchanges:
        return [{"role": "user", "content": clip(conv.first_user_text)}], ""
    k = rng.randrange(min(len(exchanges), 4)) if rng.random() < multi_turn else 0
    messages: list[dict[str, Any]] = []
    for ex in exchanges[:k]:
        messages.append({"role": "user", "content": clip(ex.prompt)})
        messages.append({"role": "assistant", "content": clip(ex.answer)})
    messages.append({"role": "user", "content": clip(exchanges[k].prompt)})
    return messages, clip(exchanges[k].answer)


def sanitised(rng: random.Random, text: str) -> str:
    """A "cleaned" rewrite: the text with some sentences dropped (no model writes it)."""
    parts = _SENTENCE.split(text)
    if len(parts) < 3:
        return text
    keep = [p for p in parts if rng.random() < 0.75] or parts[:1]
    return " ".join(keep)


def fake_png_b64(rng: random.Random) -> str:
    """A short stand-in for a screenshot: a PNG header and random base64 (a simulation only)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    n = rng.randrange(60, 160)
    n -= n % 4
    return "iVBORw0KGgoAAAANSUhEUgAA" + "".join(rng.choices(alphabet, k=n))
