"""Was a suspect model trained on our outputs, and on whose? The radioactivity test.

A model trained on text that carries our watermark reproduces the watermark's keyed word
choices more often than chance (Sander et al. 2024). So: collect the suspect's answers (probe
an OpenAI-compatible endpoint with prompts, or read texts someone collected), count the slots
where it took the choice our provider key picks — each (previous word, synonym set) one unit
across the whole corpus, scored on the word the suspect used there most and weighed by how
often it used it, which keeps the null exact (``detect``) — and report the p-value of that
count under "never saw our outputs". With per-account keys, every candidate account's key is
tested the same way, and the accounts that survive Holm's correction are named.

That p-value is exact over the choice of key: a key drawn at random fires on a clean model
with probability at most alpha. One provider's key is fixed, though, and clean models share
English's word preferences, so a given key can be a little more (or less) trigger-happy on
all of them. ``calibrate_key`` measures that for our key: it runs the same test on many random
subsets of clean reference text (by default real ChatGPT answers from the packaged ShareGPT
slice that nothing else uses) the size of the suspect's corpus, and reports the key's own
false-positive rate there and an empirical p-value for the suspect against those subsets.

Probing is read-only and small (a few hundred prompts); it is forensics on a released model,
not extraction.
"""

from __future__ import annotations

import concurrent.futures
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from distillguard.forensics.detect import (
    AccountFinding,
    TextWatermarkTest,
    score_account_units,
    text_slots,
    text_units,
)
from distillguard.forensics.stats import Evidence
from distillguard.forensics.synonyms import Lexicon


class ProvenanceError(ValueError):
    """Input a provenance run cannot use (said in one line)."""


@dataclass(frozen=True, slots=True)
class KeyCalibration:
    """The provider key's test on clean reference text: how often it fires there."""

    subsets: int  # random subsets of the reference texts tested
    subset_words: int  # words per subset: the suspect's, or at most half the reference pool's
    suspect_words: int
    alpha: float
    false_positive_rate: float  # share of clean subsets with p <= alpha
    as_significant: int  # clean subsets at least as significant as the suspect

    @property
    def empirical_p(self) -> float:
        """(1 + clean subsets at least as significant as the suspect) / (1 + subsets)."""
        return (1 + self.as_significant) / (1 + self.subsets)

    @property
    def beaten(self) -> float:
        """The share of clean subsets the suspect is more significant than."""
        return (self.subsets - self.as_significant) / self.subsets

    @property
    def smaller_than_suspect(self) -> bool:
        """Subsets had fewer words than the suspect's corpus (the pool was too small): a key's
        bias grows with the corpus, so the empirical p-value is then optimistic."""
        return self.subset_words < 0.9 * self.suspect_words

    @property
    def key_is_calibrated(self) -> bool:
        """False when the key fired on clean text clearly above alpha: more than alpha plus
        three binomial standard deviations. A rough check: the subsets overlap, so their
        firings are not independent."""
        sd = math.sqrt(self.alpha * (1 - self.alpha) / self.subsets)
        return self.false_positive_rate <= self.alpha + 3 * sd

    def to_json(self) -> dict[str, Any]:
        return {
            "subsets": self.subsets,
            "subset_words": self.subset_words,
            "suspect_words": self.suspect_words,
            "alpha": self.alpha,
            "false_positive_rate": self.false_positive_rate,
            "empirical_p": self.empirical_p,
            "key_is_calibrated": self.key_is_calibrated,
            "subsets_smaller_than_suspect": self.smaller_than_suspect,
        }


def check_reference(reference: Sequence[str]) -> None:
    """Refuse reference texts a key cannot be calibrated on (before any probing)."""
    if len(reference) < 4 or not any(text.split() for text in reference):
        raise ProvenanceError(f"{len(reference)} reference texts: too few to calibrate the key")


def calibrate_key(
    reference: Sequence[str],
    suspect_words: int,
    suspect_p: float,
    secret: bytes,
    *,
    lexicon: Lexicon,
    alpha: float = 0.01,
    subsets: int = 200,
    seed: int = 0,
) -> KeyCalibration:
    """The provider test on ``subsets`` random subsets of the clean ``reference`` texts, each
    as many words as the suspect's corpus (at most half the pool's, so subsets differ), and
    where the suspect's p-value falls among theirs."""
    if subsets < 1:
        raise ValueError("calibrating a key needs at least one subset")
    check_reference(reference)
    lengths = [len(text.split()) for text in reference]
    target = max(1, min(suspect_words, sum(lengths) // 2))
    slots = [text_slots([text], lexicon) for text in reference]  # scan each text once
    test = TextWatermarkTest(lexicon, secret)
    rng = random.Random(seed)
    null, sizes = [], []
    for _ in range(subsets):
        picked, words = [], 0
        for i in rng.sample(range(len(reference)), len(reference)):
            if words >= target:
                break
            picked.append(i)
            words += lengths[i]
        sizes.append(words)
        null.append(test.score_units(text_units(s for i in picked for s in slots[i])).p_value)
    return KeyCalibration(
        subsets=subsets,
        subset_words=round(sum(sizes) / subsets),
        suspect_words=suspect_words,
        alpha=alpha,
        false_positive_rate=sum(p <= alpha for p in null) / subsets,
        as_significant=sum(p <= suspect_p for p in null),
    )


@dataclass(frozen=True, slots=True)
class ProvenanceReport:
    texts: int
    words: int
    provider: Evidence
    alpha: float
    accounts: tuple[AccountFinding, ...]
    calibration: KeyCalibration | None = None

    @property
    def trained_on_ours(self) -> bool:
        return self.provider.significant(self.alpha)

    def to_json(self) -> dict[str, Any]:
        def evidence(e: Evidence) -> dict[str, Any]:
            return {
                "n_scored": e.n_scored,
                "n_green": e.n_green,
                "expected_green": round(e.expected_green, 3),
                "z": round(e.z, 3),
                "p_value": e.p_value,
                "exact": e.exact,
                "key_id": e.key_id,
            }

        return {
            "texts": self.texts,
            "words": self.words,
            "alpha": self.alpha,
            "trained_on_our_outputs": self.trained_on_ours,
            "provider_key": evidence(self.provider),
            "key_calibration": self.calibration.to_json() if self.calibration else None,
            "accounts": [
                {
                    "account_id": f.account_id,
                    "named": f.named,
                    "adjusted_p": f.adjusted_p,
                    **evidence(f.evidence),
                }
                for f in self.accounts
            ],
        }


def run_provenance(
    texts: Sequence[str],
    secret: bytes,
    *,
    accounts: Iterable[str] = (),
    alpha: float = 0.01,
    lexicon: Lexicon | None = None,
    reference: Sequence[str] | None = None,
    subsets: int = 200,
) -> ProvenanceReport:
    """The provider test, the candidate accounts' tests and, given ``reference`` texts (even
    an empty list, which is an error), the key's calibration on them (``calibrate_key``)."""
    lexicon = lexicon or Lexicon.load()
    if not texts:
        raise ProvenanceError("no suspect texts to test")
    units = text_units(text_slots(texts, lexicon))  # one scan for every key tested
    provider = TextWatermarkTest(lexicon, secret).score_units(units)
    candidates = list(accounts)
    findings = score_account_units(units, secret, candidates, alpha=alpha) if candidates else []
    words = sum(len(t.split()) for t in texts)
    calibration = None
    if reference is not None:
        calibration = calibrate_key(
            reference, words, provider.p_value, secret,
            lexicon=lexicon, alpha=alpha, subsets=subsets,
        )  # fmt: skip
    return ProvenanceReport(
        texts=len(texts),
        words=words,
        provider=provider,
        alpha=alpha,
        accounts=tuple(findings),
        calibration=calibration,
    )


# inputs ---------------------------------------------------------------------------------
def read_texts(path: Path) -> list[str]:
    """JSONL (a string, or an object with ``text``/``content``/``completion``/``response``,
    or a chat completion) or plain text (one text per line)."""
    raw = path.read_bytes()
    if path.suffix not in (".jsonl", ".json"):
        try:
            return [line for line in raw.decode("utf-8").splitlines() if line.strip()]
        except UnicodeDecodeError as exc:
            raise ProvenanceError(f"{path}: not UTF-8 text ({exc})") from None
    texts = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ProvenanceError(f"{path}:{n}: not JSON ({exc})") from None
        text = _text_of(item)
        if text is None:
            raise ProvenanceError(
                f"{path}:{n}: no text (a string, or text/content/completion/response)"
            )
        texts.append(text)
    return texts


def _text_of(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return None
    for name in ("text", "content", "completion", "response"):
        if isinstance(item.get(name), str):
            return str(item[name])
    choices = item.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def read_prompts(path: Path) -> list[str]:
    """Probe prompts: plain text, one per line, or JSONL as ``read_texts`` reads it."""
    return read_texts(path)


def default_prompts(n: int, *, skip: int = 12_000) -> list[str]:
    """Real user questions (ShareGPT) that ask for prose, from a slice the simulator and the
    replay upstream's defaults do not use."""
    from distillguard.data.sharegpt import iter_conversations

    prompts: list[str] = []
    for conv in iter_conversations(skip=skip):
        text = conv.first_user_text.strip()
        if text.isascii() and 20 <= len(text) <= 600 and "```" not in text:
            prompts.append(text)
            if len(prompts) >= n:
                break
    return prompts


def default_reference(n: int = 3000, *, skip: int = 14_000) -> list[str]:
    """Clean answers to calibrate a key on: ChatGPT's answers in the packaged ShareGPT slice
    past the default probe prompts' (never watermarked, never served through a gateway)."""
    from distillguard.data.sharegpt import iter_conversations

    answers: list[str] = []
    for conv in iter_conversations(skip=skip):
        for exchange in conv.exchanges():
            if exchange.answer.isascii() and 20 <= len(exchange.answer.split()) <= 800:
                answers.append(exchange.answer)
        if len(answers) >= n:
            break
    return answers[:n]


def probe(
    base_url: str,
    model: str,
    prompts: Sequence[str],
    *,
    api_key: str,
    max_tokens: int = 400,
    temperature: float | None = None,
    workers: int = 4,
) -> Iterator[str]:
    """The suspect's answers to ``prompts`` (an OpenAI-compatible chat endpoint)."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=2, timeout=120)

    def one(prompt: str) -> str:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
        }
        if temperature is not None:
            kwargs["temperature"] = temperature
        answer = client.chat.completions.create(**kwargs)
        return answer.choices[0].message.content or "" if answer.choices else ""

    with client, concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(one, prompts)
