"""What degrading takes from a harvester, and what it leaves a user.

Real ShareGPT prompts go to the replay upstream's reasoning model (in-process, no sockets),
half as JSON completions and half as SSE streams. Every answer is degraded in both reasoning
modes (strip, summary) and compared with the original it came from: reasoning tokens a client
can harvest, ``reasoning_tokens`` in usage, whether the answer text (``content``) is unchanged
(it must be, 100%), bytes on the wire, and the CPU the rewrite costs against parsing the same
response, which the gateway does anyway. The request side is measured too: the same prompts
sent with the degraded request (``max_completion_tokens`` capped), counting answers the cap
cuts short, the one cost to the answer of a wrongly degraded account.

    .venv/bin/python benchmarks/degrade_effect.py [--requests 200] [--conversations 600]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson

from distillguard.countermeasures.degrade import (
    REASONING_FIELDS,
    DegradeOptions,
    StreamDegrader,
    degrade_request,
    degrade_response,
)
from distillguard.data.sharegpt import load_conversations
from distillguard.tokens import estimate_tokens
from distillguard.upstream.replay import REASONING_MODEL, ReplaySettings, create_replay_app

MODES: Final = {
    "strip": DegradeOptions(),
    "summary": DegradeOptions(reasoning_summary=True),
}
_DONE: Final = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one response gives the client, as a harvester would collect it."""

    content: str
    reasoning: str
    usage_reasoning_tokens: int
    size: int  # bytes on the wire


@dataclass(slots=True)
class Tally:
    """Per-request figures of one column (original, strip, summary) and transport."""

    reasoning_tokens: list[int] = field(default_factory=list)
    usage_tokens: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    unchanged: int = 0
    cost_ns: list[int] = field(default_factory=list)  # degrading
    reference_ns: list[int] = field(default_factory=list)  # parsing, which is paid anyway

    def add(self, answer: Answer, original: Answer) -> None:
        self.reasoning_tokens.append(estimate_tokens(answer.reasoning))
        self.usage_tokens.append(answer.usage_reasoning_tokens)
        self.sizes.append(answer.size)
        self.unchanged += answer.content == original.content


def _json_answer(body: dict[str, Any]) -> Answer:
    message = body["choices"][0]["message"]
    reasoning = next((message[k] for k in REASONING_FIELDS if message.get(k)), "")
    return Answer(message["content"], reasoning, _usage_tokens(body), len(orjson.dumps(body)))


def _stream_answer(chunks: Sequence[dict[str, Any]]) -> Answer:
    content: list[str] = []
    reasoning: list[str] = []
    usage = 0
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            reasoning.extend(delta[k] for k in REASONING_FIELDS if delta.get(k))
        usage = _usage_tokens(chunk) or usage
    size = sum(len(_sse(chunk)) for chunk in chunks) + len(_DONE)
    return Answer("".join(content), "".join(reasoning), usage, size)


def _usage_tokens(body: dict[str, Any]) -> int:
    details = (body.get("usage") or {}).get("completion_tokens_details") or {}
    tokens: int = details.get("reasoning_tokens", 0)
    return tokens


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _parse_sse(raw: bytes) -> tuple[list[bytes], list[dict[str, Any]]]:
    lines = [line[6:] for line in raw.split(b"\n\n") if line.startswith(b"data: {")]
    return lines, [orjson.loads(line) for line in lines]


def _best_ns(work: Callable[[], object], repeat: int = 3) -> int:
    """The fastest of a few runs: single calls on a shared machine are mostly noise."""
    best = None
    for _ in range(repeat):
        start = time.perf_counter_ns()
        work()
        elapsed = time.perf_counter_ns() - start
        best = elapsed if best is None else min(best, elapsed)
    return best or 0


def _degrade_json(raw: bytes, opts: DegradeOptions, tally: Tally) -> Answer:
    body = orjson.loads(raw)
    # The reference: parsing the answer, which the gateway does for every event anyway.
    tally.reference_ns.append(_best_ns(lambda: orjson.loads(raw)))
    tally.cost_ns.append(_best_ns(lambda: orjson.dumps(degrade_response(body, opts))))
    return _json_answer(orjson.loads(orjson.dumps(degrade_response(body, opts))))


def _degrade_stream(
    lines: list[bytes], chunks: list[dict[str, Any]], opts: DegradeOptions, tally: Tally
) -> Answer:
    def degrade() -> tuple[list[dict[str, Any]], list[bytes]]:
        degrader = StreamDegrader(opts)
        out: list[dict[str, Any]] = []
        wire: list[bytes] = []
        for chunk, line in zip(chunks, lines, strict=True):
            for emitted in degrader.feed(chunk):
                out.append(emitted)  # unchanged chunks go out as their original bytes
                wire.append(line if emitted is chunk else orjson.dumps(emitted))
        for emitted in degrader.finish():
            out.append(emitted)
            wire.append(orjson.dumps(emitted))
        return out, wire

    # The reference: parsing every line, which StreamRelay does anyway.
    tally.reference_ns.append(_best_ns(lambda: [orjson.loads(line) for line in lines]))
    tally.cost_ns.append(_best_ns(degrade))
    return _stream_answer(degrade()[0])


async def run(requests: int, conversations: int) -> dict[str, Any]:
    book = load_conversations(conversations)
    firsts = (next(conversation.exchanges(), None) for conversation in book)
    prompts = [exchange.prompt for exchange in firsts if exchange is not None][:requests]
    if len(prompts) < requests:
        raise SystemExit(f"only {len(prompts)} prompts in {conversations} conversations")
    app = create_replay_app(ReplaySettings(conversations=conversations), book)
    tallies = {
        (column, transport): Tally()
        for column in ("original", *MODES)
        for transport in ("json", "stream")
    }
    cut = cut_tokens = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://replay", timeout=60
    ) as http:
        for position, prompt in enumerate(prompts):
            stream = position % 2 == 1
            body: dict[str, Any] = {
                "model": REASONING_MODEL,
                "messages": [{"role": "user", "content": prompt}],
            }
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
            capped, _ = degrade_request(body, MODES["strip"])
            raw = (await http.post("/v1/chat/completions", json=body)).content
            raw_capped = (await http.post("/v1/chat/completions", json=capped)).content
            transport = "stream" if stream else "json"
            if stream:
                lines, chunks = _parse_sse(raw)
                original = _stream_answer(chunks)
                capped_content = _stream_answer(_parse_sse(raw_capped)[1]).content
            else:
                original = _json_answer(orjson.loads(raw))
                capped_content = _json_answer(orjson.loads(raw_capped)).content
            tallies["original", transport].add(original, original)
            for mode, opts in MODES.items():
                tally = tallies[mode, transport]
                if stream:
                    answer = _degrade_stream(lines, chunks, opts, tally)
                else:
                    answer = _degrade_json(raw, opts, tally)
                tally.add(answer, original)
            if capped_content != original.content:
                cut += 1
                cut_tokens += estimate_tokens(original.content) - estimate_tokens(capped_content)
    return {"prompts": len(prompts), "tallies": tallies, "cut": cut, "cut_tokens": cut_tokens}


def report(result: dict[str, Any]) -> None:
    tallies: dict[tuple[str, str], Tally] = result["tallies"]
    columns = ("original", *MODES)
    n = result["prompts"]

    def row(label: str, values: Sequence[str]) -> None:
        print(f"  {label:<40}" + "".join(f"{value:>14}" for value in values))

    def merged(column: str, name: str) -> list[int]:
        values: list[int] = []
        for transport in ("json", "stream"):
            values.extend(getattr(tallies[column, transport], name))
        return values

    print(
        f"\ndegrade effect: {n} ShareGPT prompts to {REASONING_MODEL} "
        f"({len(tallies['original', 'json'].sizes)} JSON, "
        f"{len(tallies['original', 'stream'].sizes)} streamed)\n"
    )
    row("", columns)
    harvest = {c: statistics.fmean(merged(c, "reasoning_tokens")) for c in columns}
    row("reasoning tokens harvested / request", [f"{harvest[c]:.1f}" for c in columns])
    row("  ratio to original", [f"{harvest[c] / harvest['original']:.3f}" for c in columns])
    usage = {c: statistics.fmean(merged(c, "usage_tokens")) for c in columns}
    row("usage reasoning_tokens / request", [f"{usage[c]:.1f}" for c in columns])
    same = {c: sum(tallies[c, t].unchanged for t in ("json", "stream")) for c in columns}
    row("answers with content unchanged", [f"{same[c] / n:.1%}" for c in columns])
    for transport in ("json", "stream"):
        sizes = {c: statistics.fmean(tallies[c, transport].sizes) for c in columns}
        base = sizes["original"]
        row(f"bytes / response ({transport})", [f"{sizes[c]:,.0f}" for c in columns])
        row("  ratio to original", [f"{sizes[c] / base:.3f}" for c in columns])
    print()
    row("CPU per response, p50", ("degrade µs", "reference µs", "ratio"))
    for transport, reference in (("json", "parse it"), ("stream", "parse each line")):
        for mode in MODES:
            tally = tallies[mode, transport]
            cost = statistics.median(tally.cost_ns) / 1000
            ref = statistics.median(tally.reference_ns) / 1000
            label = f"{transport}/{mode} (ref: {reference})"
            row(label, [f"{cost:.1f}", f"{ref:.1f}", f"{cost / ref:.2f}"])
    cap = MODES["strip"].max_tokens_cap
    print(
        f"\n  request side: max_completion_tokens capped at {cap} cut {result['cut']}/{n} "
        f"answers ({result['cut'] / n:.1%}),\n  {result['cut_tokens'] / n:.1f} answer tokens "
        "lost per request (on a reasoning model the cap is shared with reasoning)"
    )
    ok = all(same[c] == n for c in columns)
    print(f"  content unchanged by response degrading: {'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="prompts (half streamed)")
    parser.add_argument("--conversations", type=int, default=600, help="ShareGPT to load")
    args = parser.parse_args()
    report(asyncio.run(run(args.requests, args.conversations)))


if __name__ == "__main__":
    main()
