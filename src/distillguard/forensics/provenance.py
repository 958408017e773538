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
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from distillguard.forensics.detect import (
    AccountFinding,
    TextWatermarkTest,
    score_accounts,
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
    subset_texts: int  # texts per subset (the suspect's corpus size, or what the pool allows)
    alpha: float
    false_positive_rate: float  # share of clean subsets with p <= alpha
    empirical_p: float  # (1 + clean subsets at least as significant as the suspect) / (1 + subsets)

    @property
    def key_is_calibrated(self) -> bool:
        """False when the key fires on clean text well above alpha (binomial 99.9 % bound)."""
        from scipy import stats

        bound = float(stats.binom.ppf(0.999, self.subsets, self.alpha)) / self.subsets
        return self.false_positive_rate <= bound

    def to_json(self) -> dict[str, Any]:
        return {
            "subsets": self.subsets,
            "subset_texts": self.subset_texts,
            "alpha": self.alpha,
            "false_positive_rate": self.false_positive_rate,
            "empirical_p": self.empirical_p,
            "key_is_calibrated": self.key_is_calibrated,
        }


def calibrate_key(
    reference: Sequence[str],
    suspect_p: float,
    size: int,
    secret: bytes,
    *,
    lexicon: Lexicon,
    alpha: float = 0.01,
    subsets: int = 200,
    seed: int = 0,
) -> KeyCalibration:
    """The provider test on ``subsets`` random subsets of ``size`` clean ``reference`` texts
    (at most half the pool, so subsets differ), against the suspect's p-value."""
    if len(reference) < 4:
        raise ProvenanceError(f"{len(reference)} reference texts: too few to calibrate the key")
    size = max(1, min(size, len(reference) // 2))
    slots = [text_slots([text], lexicon) for text in reference]  # scan each text once
    test = TextWatermarkTest(lexicon, secret)
    rng = random.Random(seed)
    null = []
    for _ in range(subsets):
        picked = rng.sample(range(len(reference)), size)
        null.append(test.score_units(text_units(s for i in picked for s in slots[i])).p_value)
    return KeyCalibration(
        subsets=subsets,
        subset_texts=size,
        alpha=alpha,
        false_positive_rate=sum(p <= alpha for p in null) / subsets,
        empirical_p=(1 + sum(p <= suspect_p for p in null)) / (1 + subsets),
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
    reference: Sequence[str] = (),
    subsets: int = 200,
) -> ProvenanceReport:
    """The provider test, the candidate accounts' tests and, given ``reference`` texts, the
    key's calibration on them (``calibrate_key``)."""
    lexicon = lexicon or Lexicon.load()
    if not texts:
        raise ProvenanceError("no suspect texts to test")
    provider = TextWatermarkTest(lexicon, secret).score(texts)
    candidates = list(accounts)
    findings = score_accounts(texts, lexicon, secret, candidates, alpha=alpha) if candidates else []
    calibration = None
    if reference and subsets > 0:
        calibration = calibrate_key(
            reference, provider.p_value, len(texts), secret,
            lexicon=lexicon, alpha=alpha, subsets=subsets,
        )  # fmt: skip
    return ProvenanceReport(
        texts=len(texts),
        words=sum(len(t.split()) for t in texts),
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
        return [line for line in raw.decode("utf-8").splitlines() if line.strip()]
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
