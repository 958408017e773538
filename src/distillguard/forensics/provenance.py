"""Was a suspect model trained on our outputs, and on whose? The radioactivity test.

A model trained on text that carries our watermark reproduces the watermark's keyed word
choices more often than chance (Sander et al. 2024). So: collect the suspect's answers (probe
an OpenAI-compatible endpoint with prompts, or read texts someone collected), count the slots
where it took the choice our provider key picks — each (previous word, synonym set) counted
once across the whole corpus, which keeps the null exact — and report the p-value of that count
under "never saw our outputs". With per-account keys, every candidate account's key is tested
the same way, and the accounts that survive Holm's correction are named.

Probing is read-only and small (a few hundred prompts); it is forensics on a released model,
not extraction.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from distillguard.forensics.detect import AccountFinding, TextWatermarkTest, score_accounts
from distillguard.forensics.stats import Evidence
from distillguard.forensics.synonyms import Lexicon


class ProvenanceError(ValueError):
    """Input a provenance run cannot use (said in one line)."""


@dataclass(frozen=True, slots=True)
class ProvenanceReport:
    texts: int
    words: int
    provider: Evidence
    alpha: float
    accounts: tuple[AccountFinding, ...]

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
) -> ProvenanceReport:
    lexicon = lexicon or Lexicon.load()
    if not texts:
        raise ProvenanceError("no suspect texts to test")
    provider = TextWatermarkTest(lexicon, secret).score(texts)
    candidates = list(accounts)
    findings = score_accounts(texts, lexicon, secret, candidates, alpha=alpha) if candidates else []
    return ProvenanceReport(
        texts=len(texts),
        words=sum(len(t.split()) for t in texts),
        provider=provider,
        alpha=alpha,
        accounts=tuple(findings),
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
