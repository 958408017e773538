"""One detection interface for both watermarks: score a corpus under a key, get ``Evidence``.

A test counts scored units that took the key's choice ("green") and asks how likely that many
would be without the watermark. Units are deduplicated across the whole corpus: a repeated
(context, set) slot or (context ids, token) pair is one draw of the key's choice, not many, so
counting repeats would inflate the count's variance and make the test fire on unwatermarked
but repetitive text (Sander et al. 2024 found the same for token watermarks).

A text unit seen several times votes: it is scored on the member the corpus wrote there most
often (ties to the member seen first). The vote reads only the text, never the key, so under
the null the key's choice is still uniform over the set and independent between units, and
``stats.upper_tail`` stays exact. Under the alternative the vote is far more reliable than one
occurrence: a student that learnt the key's choice at a context with probability 0.6 writes it
at one occurrence with probability 0.6, but wins the vote over ten with probability 0.63-0.83,
and over many with probability 1; where several keys' choices were mixed into the training
data (several leaking accounts), the vote follows their majority. For the same reason a unit
seen more often weighs more: its weight is the number of times the corpus used it, up to
``MAX_UNIT_WEIGHT``, and the test counts weighted green units. The weights, too, read only the
text, so the null stays exact (``stats`` convolves the scaled binomials). On a student trained
on three leaking accounts' answers, weighting took the traitors' p-values down by one to two
orders of magnitude (``benchmarks/forensics_eval.py``, tracing).

Text slots belong to the provider or the account layer (``keys.TextKeys``): a provider test
counts only provider-layer slots, an account test only account-layer slots, so the two
tests read disjoint evidence and an account's key never fires on the provider's choices.
``score_accounts`` tests many candidate accounts and names those whose key fires at
family-wise level ``alpha`` (Holm's step-down correction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from distillguard.forensics.keys import (
    TextKeys,
    account_choice_key,
    account_key,
    green_index,
    key_id,
    slot_message,
)
from distillguard.forensics.logitmark import GreenList, TokenUnits, Unit
from distillguard.forensics.stats import Evidence, Group, green_evidence, holm_adjust
from distillguard.forensics.synonyms import Lexicon
from distillguard.forensics.textscan import FoundSlot, find_slots

__all__ = [
    "MAX_UNIT_WEIGHT",
    "AccountFinding",
    "Layer",
    "LogitWatermarkTest",
    "TextUnit",
    "TextWatermarkTest",
    "WatermarkTest",
    "in_layer",
    "score_account_units",
    "score_accounts",
    "text_groups",
    "text_slots",
    "text_units",
]

T_contra = TypeVar("T_contra", contravariant=True)
Layer = Literal["provider", "account", "all"]
MAX_UNIT_WEIGHT = 4
"""A text unit used this many times or more weighs this much (a vote over 4+ is reliable)."""


class WatermarkTest(Protocol[T_contra]):
    """Scores a corpus (texts, or token-id sequences) for one key's watermark."""

    @property
    def scheme(self) -> str: ...

    def score(self, items: Iterable[T_contra]) -> Evidence: ...


@dataclass(frozen=True, slots=True)
class TextUnit:
    """One distinct (context, set) slot of a corpus and the member the corpus wrote there."""

    message: bytes  # (context, set) as hashed: the deduplication key
    size: int
    index: int
    weight: int = 1  # uses of the unit in the corpus, capped at MAX_UNIT_WEIGHT


def text_slots(texts: Iterable[str], lexicon: Lexicon) -> list[FoundSlot]:
    """Every slot of every text, in corpus order (independent of any key: scan once)."""
    return [slot for text in texts for slot in find_slots(text, lexicon)]


def text_units(slots: Iterable[FoundSlot], *, vote: bool = True) -> list[TextUnit]:
    """The corpus's distinct units, each with its plurality member and its weight
    (key-independent: compute once, score under many keys).

    ``vote=False`` keeps the first occurrence's member and weighs every unit 1, as the test
    did before votes and weights: for comparing the two.
    """
    counts: dict[bytes, Counter[int]] = {}
    sizes: dict[bytes, int] = {}
    for slot in slots:
        message = slot_message(slot.context, slot.entry.key)
        if message not in counts:
            counts[message], sizes[message] = Counter(), len(slot.entry.members)
        counts[message][slot.index] += 1
    # Counter.most_common keeps insertion order among equal counts: ties go to the first seen.
    if not vote:
        return [TextUnit(m, sizes[m], next(iter(c))) for m, c in counts.items()]
    return [
        TextUnit(m, sizes[m], c.most_common(1)[0][0], min(c.total(), MAX_UNIT_WEIGHT))
        for m, c in counts.items()
    ]


def in_layer(units: Iterable[TextUnit], keys: TextKeys, layer: Layer) -> list[TextUnit]:
    """The units a test under ``keys`` reads in ``layer`` (the provider's split)."""
    if layer == "all":
        return list(units)
    account = layer == "account"
    return [unit for unit in units if keys.is_account_slot(unit.message) == account]


def text_groups(units: Iterable[TextUnit]) -> list[Group]:
    """The null of a green count over these units: (units, 1/|set|, weight) groups."""
    kinds = Counter((unit.size, unit.weight) for unit in units)
    return [(n, 1.0 / size, weight) for (size, weight), n in sorted(kinds.items())]


def _evidence(units: Sequence[TextUnit], choice_key: bytes, name: str) -> Evidence:
    green = sum(
        unit.weight
        for unit in units
        if green_index(choice_key, unit.message, unit.size) == unit.index
    )
    return green_evidence(green, text_groups(units), "text", name)


class TextWatermarkTest:
    """The text watermark's test under the provider key, or under one account's key.

    ``layer`` defaults to the key's own layer. ``layer="all"`` scores every slot with the
    provider key: twice the evidence where answers were watermarked without account keys;
    where they were, account-layer slots are green only by chance under the provider key, so
    they dilute the test (its null stays exact either way).
    """

    scheme = "text"

    def __init__(
        self,
        lexicon: Lexicon,
        provider_secret: bytes,
        account_id: str | None = None,
        *,
        layer: Layer | None = None,
    ) -> None:
        self._lexicon = lexicon
        self._keys = TextKeys.from_secret(provider_secret, account_id)
        self._layer: Layer = layer or ("provider" if account_id is None else "account")
        if self._layer == "account" and account_id is None:
            raise ValueError("the account layer needs an account_id")
        if account_id is None or self._layer != "account":
            self._choice, self.key_id = self._keys.provider, self._keys.provider_id
        else:
            self._choice = account_choice_key(provider_secret, account_id)
            self.key_id = key_id(account_key(provider_secret, account_id))

    def score(self, items: Iterable[str]) -> Evidence:
        return self.score_slots(text_slots(items, self._lexicon))

    def score_slots(self, slots: Iterable[FoundSlot]) -> Evidence:
        """Score slots already found (``text_slots``)."""
        return self.score_units(text_units(slots))

    def score_units(self, units: Iterable[TextUnit]) -> Evidence:
        """Score units already extracted (``text_units``): scan once, test many keys."""
        scored = in_layer(units, self._keys, self._layer)
        return _evidence(scored, self._choice, self.key_id)


@dataclass(frozen=True, slots=True)
class AccountFinding:
    """One candidate account's evidence in a corpus; ``named`` when it survives Holm."""

    account_id: str
    evidence: Evidence
    adjusted_p: float
    named: bool


def score_accounts(
    texts: Iterable[str],
    lexicon: Lexicon,
    provider_secret: bytes,
    account_ids: Iterable[str],
    *,
    alpha: float = 0.01,
    vote: bool = True,
) -> list[AccountFinding]:
    """Test every candidate account's key on a corpus; most significant first.

    An account is named when its Holm-adjusted p-value is at most ``alpha``: the chance of
    naming any account whose key did not watermark the corpus is then at most ``alpha``.
    ``vote=False`` scores first occurrences, unweighted (``text_units``): for comparison.
    """
    units = text_units(text_slots(texts, lexicon), vote=vote)
    return score_account_units(units, provider_secret, account_ids, alpha=alpha)


def score_account_units(
    units: Iterable[TextUnit],
    provider_secret: bytes,
    account_ids: Iterable[str],
    *,
    alpha: float = 0.01,
) -> list[AccountFinding]:
    """``score_accounts`` on units already extracted (``text_units``): scan once."""
    ids = list(dict.fromkeys(account_ids))
    # the layer split is the provider's, the same for every account
    units = in_layer(units, TextKeys.from_secret(provider_secret), "account")
    found = []
    for account in ids:
        choice = account_choice_key(provider_secret, account)
        found.append(_evidence(units, choice, key_id(account_key(provider_secret, account))))
    adjusted = holm_adjust([e.p_value for e in found])
    ranked = sorted(zip(ids, found, adjusted, strict=True), key=lambda r: (r[1].p_value, r[0]))
    return [AccountFinding(a, e, adj, adj <= alpha) for a, e, adj in ranked]


class LogitWatermarkTest:
    """The logits watermark's test on token-id sequences (generated tokens only).

    Position i is scored with the ``context_width`` ids before it, so the first
    ``context_width`` tokens of each sequence (whose context was the prompt) are skipped.
    ``dedup=False`` counts repeated (context, token) units again: only for showing why that
    is wrong (its null is not calibrated on repetitive text).
    """

    scheme = "logits"

    def __init__(
        self, key: bytes, gamma: float = 0.25, context_width: int = 1, *, dedup: bool = True
    ) -> None:
        self._green = GreenList(key, gamma, context_width)
        self._dedup = dedup
        self.key_id = key_id(key)

    def units(self, sequences: Iterable[Sequence[int]]) -> TokenUnits:
        """The scored (context ids, token) units of a corpus, deduplicated unless told not to.

        They do not depend on the key: extract once, then ``score_units`` under many keys.
        """
        width = self._green.context_width
        units: list[Unit] = [
            (tuple(int(t) for t in seq[i - width : i]), int(seq[i]))
            for seq in sequences
            for i in range(width, len(seq))
        ]
        return TokenUnits.of(list(dict.fromkeys(units)) if self._dedup else units)

    def score(self, items: Iterable[Sequence[int]]) -> Evidence:
        return self.score_units(self.units(items))

    def score_units(self, units: TokenUnits) -> Evidence:
        n_green = int(self._green.green(units).sum()) if units else 0
        return green_evidence(n_green, [(len(units), self._green.gamma)], "logits", self.key_id)
