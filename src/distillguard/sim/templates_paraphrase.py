"""The evasive attacker's paraphraser: prompts composed fresh, so no two share a skeleton.

A careful distiller does not reuse a scaffold; it asks like a person would, differently each time,
and often only softly for the reasoning. Prompts are assembled from optional fragments (openers,
context, a reasoning ask, format wishes, sign-offs) in random order, with ``[a|b|c]`` choices
inside fragments and random casing and punctuation. Each bank has its own fragments, so the
heldout evasive traffic shares no wording with what detection was tuned on.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Final

_CHOICE: Final = re.compile(r"\[([^\[\]]*)\]")
_ORDINALS: Final = ("first", "second", "third", "fourth", "fifth", "sixth", "last")


def expand(rng: random.Random, fragment: str) -> str:
    """Resolve every ``[a|b|c]`` (an empty choice is allowed) with ``rng``."""
    return _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), fragment)


@dataclass(frozen=True, slots=True)
class Paraphraser:
    openers: tuple[str, ...]
    contexts: tuple[str, ...]
    cot_asks: tuple[str, ...]
    format_asks: tuple[str, ...]
    closers: tuple[str, ...]
    frames: tuple[str, ...]  # how the question itself is introduced; "{q}" marks it
    followup_leads: tuple[str, ...]
    followup_asks: tuple[str, ...]  # "{target}" marks what the follow-up is about
    followup_targets: tuple[str, ...]  # "{n}" a step number, "{nth}" an ordinal

    def compose(self, rng: random.Random, question: str, *, cot: bool = True) -> str:
        """One prompt around ``question``; ``cot`` adds a (varied) request for the reasoning."""
        # The frame is expanded before the question goes in: questions contain brackets too.
        q = expand(rng, rng.choice(self.frames)).replace("{q}", question.strip())
        before: list[str] = []
        after: list[str] = []
        if rng.random() < 0.55:
            before.append(expand(rng, rng.choice(self.openers)))
        if rng.random() < 0.45:
            (before if rng.random() < 0.6 else after).append(expand(rng, rng.choice(self.contexts)))
        if cot:
            ask = expand(rng, rng.choice(self.cot_asks))
            (before if rng.random() < 0.3 else after).append(ask)
        if rng.random() < 0.35:
            after.append(expand(rng, rng.choice(self.format_asks)))
        if rng.random() < 0.4:
            after.append(expand(rng, rng.choice(self.closers)))
        before = [_style(rng, p) for p in before if p]
        after = [_style(rng, p) for p in after if p]
        rng.shuffle(after)
        sep = rng.choice((" ", " ", "\n", "\n\n"))
        return sep.join([*before, q, *after]).strip()

    def followup(self, rng: random.Random, steps: int = 5) -> str:
        """A later turn about the previous answer ("can you explain step 3 in more detail?")."""
        n = rng.randint(1, max(1, steps))
        target = expand(rng, rng.choice(self.followup_targets))
        target = target.replace("{n}", str(n)).replace("{nth}", _ORDINALS[min(n, 7) - 1])
        ask = expand(rng, rng.choice(self.followup_asks)).replace("{target}", target)
        lead = expand(rng, rng.choice(self.followup_leads))
        return _style(rng, f"{lead} {ask}".strip())


def _style(rng: random.Random, text: str) -> str:
    """Casing and end punctuation the way people actually type them."""
    text = " ".join(text.split())
    roll = rng.random()
    if roll < 0.25:
        text = text.lower()
    elif roll < 0.8 and text:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.2:
        text = text.rstrip(".!")
    return text


def tuning_paraphraser() -> Paraphraser:
    """Casual, chatty English."""
    return Paraphraser(
        openers=(
            "[hey|hi|hello][,|!|] [quick|small|] question",
            "ok so",
            "[so|alright|right], [here's|this is] [one|something] I'm stuck on",
            "[can|could] you help [me |]with this[?|]",
            "[need|looking for] [some |a bit of |]help[ here|]",
            "[hmm|um|uh], [not sure about|confused about|struggling with] this [one|problem|]",
            "[my|our] [teacher|professor|tutor|boss] [gave|sent] [me|us] this",
            "trying to [figure out|understand|work out] [something|this]",
            "[random|weird|dumb] question [maybe|probably|]",
            "[got|have] a [problem|puzzle|question] [for you|here]",
        ),
        contexts=(
            "[I'm|im] [studying|prepping|revising] for [an exam|a test|finals|an interview]",
            "[my kid|my daughter|my son|a friend] asked me [this|about this] and I [blanked|froze]",
            "[I|we] [keep|kept] getting a different [answer|result] [each time|than the book]",
            "this is [for|from] a [side project|work thing|homework set|practice sheet]",
            "[I|i] want to [check|double check|verify] my [own |]answer",
            "[tried|attempted] it [twice|a few times|myself] [and failed|but got lost|already]",
            "[it's|its] been [years|a while|ages] since I did [this kind of thing|stuff like this]",
            "[no rush|not urgent|whenever you can][,|] [but|though] [I'm curious|I want to get it]",
        ),
        cot_asks=(
            "[can|could] you [walk|take] me through [it|how you'd do it|your approach]",
            "[please |]explain how you [got|get|arrive] [there|the answer|to it]",
            "I'd [like|love] to [see|follow] [your|the] [reasoning|thinking|logic] [too|as well|]",
            "show [how you work it out|the work|your working][ please|]",
            "[don't|do not] [just|only] give [me |]the answer[,|] I want to [understand|learn] it",
            "[explain|describe] [each|every] [step|part] [as you go|along the way|]",
            "what's the [thought process|logic|reasoning] [here|behind it|]",
            "[talk|go] me through [how you'd think about it|your thinking][ step by step|]",
            "how would you [reason|think] [about|through] this[?|]",
            "[spell out|lay out|break down] [your|the] [reasoning|logic|steps][ for me|]",
        ),
        format_asks=(
            "[bullet points|a list|numbered steps] [is|are] fine",
            "[keep|make] it [short|brief|simple][ish|]",
            "[plain|simple] english [please|pls|]",
            "no [need for|] [fancy|long] [formatting|intro]",
            "[detail|details] [is|are] [good|welcome|fine]",
        ),
        closers=(
            "[thanks|thank you|thx|ty][!|.|]",
            "[appreciate|appreciated] [it|the help][!|]",
            "[cheers|much obliged][!|]",
            "[you're|youre] a [lifesaver|star][ lol|]",
        ),
        frames=(
            "{q}",
            '"{q}"',
            "here it is: {q}",
            "[the |]question [is|was]: {q}",
            "{q} <- this one",
            "problem:\n{q}",
        ),
        followup_leads=("", "[ok|okay|alright|cool][,|.|]", "[thanks|thx][,|.]", "[hmm|wait][,|]"),
        followup_asks=(
            "can you explain {target} in more detail[?|]",
            "I don't [get|follow|understand] {target}[?|]",
            "could you [go over|redo|expand on] {target} [again|more slowly|][?|]",
            "why [did you|do you] [do|need] {target}[?|]",
            "[what|how] [exactly|] happens in {target}[?|]",
            "[can|could] you [break|split] {target} [down|into smaller steps][?|]",
        ),
        followup_targets=(
            "step {n}",
            "the {nth} step",
            "[that|the] part [about|with] step {n}",
            "the [bit|part] [right |]after step {n}",
            "[your|the] {nth} [point|line]",
        ),
    )


def heldout_paraphraser() -> Paraphraser:
    """A different register: terse, formal or non-native English, other vocabulary throughout."""
    return Paraphraser(
        openers=(
            "[greetings|good day|dear assistant][,|.|]",
            "[kindly|please] [assist|support] [regarding|with] the [matter|item] below",
            "[query|request|inquiry] [for you|incoming|]:",
            "[one|a] [conundrum|riddle|exercise] [for your consideration|to ponder|]",
            "[pardon|forgive] the [bother|interruption][,|] [but|yet]",
            "[sir|madam|friend][,|] [pls|please] [look at|check] [this|below]",
            "[yo|oi|heya][,|] [got|have] [one|a thing] [4|for] u",
            "[I am|am] [puzzled|perplexed|uncertain] [by|about] the [following|next] [item|task]",
            "[context|background][:|] [coursework|self-study|a certification]",
            "[sorry|apologies] [if|in case] this is [trivial|basic|obvious]",
        ),
        contexts=(
            "[our|my] [reading group|study circle|cohort] [debated|argued over] this [yesterday|]",
            "[the|my] [textbook|manual|handout] [omits|skips|glosses over] the [method|derivation]",
            "[I|we] [must|have to] [present|defend|teach] [it|this] [tomorrow|on Monday|soon]",
            "[it|this] [appears|showed up|came up] [in|on] [a past paper|an assessment|a quiz]",
            "[mine|my attempt] [came out|ended up] [differently|wrong|inconsistent]",
            "[English is|english not] my [second|third] language[, sorry|]",
            "[I|we] [intend|plan] to [automate|script] [something similar|this] [later|]",
        ),
        cot_asks=(
            "[elaborate|expound] [on|upon] [the|your] [rationale|line of thought|deliberation]",
            "[narrate|verbalise|articulate] [your|the] [deliberation|thinking] [fully|in full|]",
            "[reveal|expose|share] [the|your] [intermediate|in-between] [moves|inferences|stages]",
            "[how|in what way] [does one|would one|might one] [arrive|reach] [there|the result]",
            "[justify|motivate] [each|every] [transition|inference|move]",
            "[I wish|I want|hoping] to [witness|observe|see] [the|your] [path|route] [to it|]",
            "[kindly|please] [unfold|unpack|expand] [your|the] [logic|inner process]",
            "[reason|ponder|deliberate] [openly|visibly|out loud] [first|before concluding|]",
            "what [goes on|happens] in [your head|your mind] [while|as] [solving|doing] [it|this]",
            "[no|never] [skip|omit|elide] [any|the] [inferential|intermediate] [links|moves]",
        ),
        format_asks=(
            "[prose|paragraphs] [preferred|welcome|ok]",
            "[terse|compact|succinct] [is|seems] [better|preferable|fine]",
            "[use|employ] [headings|sections|a table] [if|when] [helpful|useful|needed]",
            "[conclude|end|finish] [with|on] [the|a] [verdict|result] [line|sentence|]",
            "[avoid|no] [jargon|technical terms|slang] [please|kindly|]",
        ),
        closers=(
            "[much|many] [gratitude|thanks] [in advance|beforehand|]",
            "[regards|best|kind regards][.|]",
            "[grateful|obliged] [for|about] [any|your] [insight|input]",
            "[ty|tysm|merci|gracias][!|]",
        ),
        frames=(
            "«{q}»",
            "[item|task|exercise] -> {q}",
            "{q} (verbatim from [the sheet|my notes|the book])",
            "consider the [following|next]:\n{q}",
            "[[ {q} ]]",
            ">> {q}",
        ),
        followup_leads=(
            "",
            "[understood|noted|i see][,|.]",
            "[sorry|pardon][,|]",
            "[right|fine][.|,]",
        ),
        followup_asks=(
            "[elaborate|expand] [upon|on] {target}[,| ] [please|kindly|][?|.|]",
            "{target} [remains|is still] [unclear|opaque|fuzzy] to me",
            "[why|how come] {target} [follows|holds|works][?|]",
            "[rephrase|restate|unpack] {target} [more simply|in other words|][?|.|]",
            "[what|which] [justifies|motivates|supports] {target}[?|]",
            "[give|show] [an example|a concrete case] [for|of] {target}[?|]",
        ),
        followup_targets=(
            "[stage|phase|move] {n}",
            "the {nth} [inference|transition|stage]",
            "[whatever|what] you [did|claimed] [at|in] [point|stage] {n}",
            "[the|your] [jump|leap] [before|after|at] [move|stage] {n}",
            "[that|the] {nth} [claim|deduction]",
        ),
    )
