"""The gateway watermarks what it serves: real ShareGPT answers through the real gateway and
the official client. Streamed and JSON answers carry the same text, the provider key finds
the mark, the account key names the account, unmarked traffic stays byte for byte the same,
and the event log records what the client got."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from conftest import gateway_config, running_gateway
from distillguard.config import WatermarkConfig
from distillguard.countermeasures.watermark import WATERMARKED, StreamWatermark
from distillguard.data.sharegpt import Conversation, load_conversations
from distillguard.forensics.detect import TextWatermarkTest, score_accounts
from distillguard.forensics.provenance import default_reference
from distillguard.forensics.synonyms import Lexicon
from distillguard.forensics.textmark import TextWatermarker
from distillguard.upstream.replay import ReplaySettings, create_replay_app
from servers import serve_in_thread

SECRET = "provider-watermark-secret-0123"
ACCOUNTS = ["alice", "bob", "carol", "dave"]


def english(conversations: list[Conversation]) -> list[Conversation]:
    out = []
    for c in conversations:
        exchange = next(c.exchanges(), None)
        if exchange and exchange.answer.isascii() and 400 < len(exchange.answer) < 3000:
            out.append(c)
    return out


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return english(load_conversations(400))[:40]


@pytest.fixture(scope="module")
def upstream(conversations: list[Conversation]) -> Iterator[str]:
    app = create_replay_app(ReplaySettings(words_per_chunk=3), conversations)
    with serve_in_thread(app) as url:
        yield url


def ask(base_url: str, key: str, prompt: str, *, stream: bool = False) -> str:
    with openai.OpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
        kwargs: dict[str, Any] = {
            "model": "replay-sharegpt",
            "messages": [{"role": "user", "content": prompt}],
        }
        if not stream:
            return client.chat.completions.create(**kwargs).choices[0].message.content or ""
        parts = []
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            parts += [c.delta.content or "" for c in chunk.choices]
        return "".join(parts)


def test_the_gateway_marks_answers_and_provenance_names_the_account(
    tmp_path: Path, upstream: str, conversations: list[Conversation]
) -> None:
    config = gateway_config(
        tmp_path, upstream, watermark=WatermarkConfig(mode="all", secret=SECRET)
    )
    prompts = [next(c.exchanges()).prompt for c in conversations]
    originals = [ask(upstream + "/v1", "unused", p) for p in prompts]
    with running_gateway(config, ACCOUNTS) as gw:
        served = [ask(gw.base_url, gw.keys["alice"], p) for p in prompts]
        streamed = [ask(gw.base_url, gw.keys["alice"], p, stream=True) for p in prompts[:12]]
        for_bob = ask(gw.base_url, gw.keys["bob"], prompts[0])
        events = gw.events()
    assert streamed == served[:12]  # a stream carries exactly the JSON answer's text
    changed = sum(s != o for s, o in zip(served, originals, strict=True))
    assert changed >= 0.8 * len(served)
    assert for_bob != served[0]  # another account, another key
    lexicon = Lexicon.load()
    secret = SECRET.encode()
    assert TextWatermarkTest(lexicon, secret).score(served).p_value < 1e-6
    assert TextWatermarkTest(lexicon, secret).score(originals).p_value > 1e-3
    named = [f.account_id for f in score_accounts(served, lexicon, secret, ACCOUNTS) if f.named]
    assert named == ["alice"]
    # The event log keeps what the client got, and says it was marked.
    chats = [e for e in events if e.get("endpoint") == "/v1/chat/completions"]
    assert all(WATERMARKED in e["decision"]["reasons"] for e in chats)
    logged = {e["response"]["content"] for e in chats if e["account_id"] == "alice"}
    assert set(served) <= logged


def test_flagged_mode_leaves_allowed_traffic_untouched(
    tmp_path: Path, upstream: str, conversations: list[Conversation]
) -> None:
    from distillguard.engine import Engine
    from distillguard.gateway.decision import ChainedHook
    from distillguard.policy.response import ResponsePolicy
    from distillguard.policy.rules import Condition, MetaMatch, PolicyConfig, Rule
    from distillguard.policy.snapshot import DecisionCache
    from distillguard.policy.static import StaticPolicy
    from distillguard.store.decisions import open_decisions

    config = gateway_config(
        tmp_path, upstream, watermark=WatermarkConfig(mode="flagged", secret=SECRET)
    )
    rule = Rule(
        name="suspect",
        when=Condition(account_meta={"tier": MetaMatch(eq="suspect")}),
        action="flag",
    )
    cache = DecisionCache(open_decisions("sqlite", tmp_path / "d.sqlite"), None)
    cache.replace_policy(PolicyConfig(rules=[rule]))
    policy = ResponsePolicy(Engine(), cache)
    hook = ChainedHook([StaticPolicy(config.policy), policy])
    expected = TextWatermarker.from_secret(Lexicon.load(), SECRET.encode(), "mallory")
    prompt, original = next(
        (x.prompt, x.answer)
        for c in conversations
        for x in c.exchanges()
        if expected.watermark(x.answer) != x.answer
    )
    assert ask(upstream + "/v1", "unused", prompt) == original
    meta = {"mallory": {"tier": "suspect"}}
    with running_gateway(config, ["alice", "mallory"], hook, policy=policy, meta=meta) as gw:
        assert ask(gw.base_url, gw.keys["alice"], prompt) == original
        marked = ask(gw.base_url, gw.keys["mallory"], prompt)
    assert marked == expected.watermark(original) != original


def test_stream_transform_releases_held_text_at_the_finish() -> None:
    marker = TextWatermarker.from_secret(Lexicon.load(), SECRET.encode(), "alice")
    text = "It is a good idea to use the tool. For example, you can't do it if it is late."
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    transform = StreamWatermark(marker.stream)
    out: list[dict[str, Any]] = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        choice = {
            "index": 0,
            "delta": {"content": piece},
            "finish_reason": "stop" if last else None,
        }
        chunk: dict[str, Any] = {"id": "x", "choices": [choice]}
        out += transform.feed(chunk)
    out += transform.feed({"id": "x", "choices": [], "usage": {"total_tokens": 9}})
    out += transform.finish()
    got = "".join(c["choices"][0]["delta"].get("content", "") for c in out if c.get("choices"))
    assert got == marker.watermark(text) != text
    assert out[-1].get("usage") == {"total_tokens": 9}  # nothing comes after the usage chunk


def test_provenance_probes_a_suspect_and_names_the_account(
    tmp_path: Path,
    upstream: str,
    conversations: list[Conversation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The "suspect" here is our own gateway serving a lab's account (its answers are ours,
    marked under that account's key) and, as the control, the unmarked upstream itself."""
    from click.testing import CliRunner

    from distillguard.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_bytes(b"\n".join(orjson.dumps(next(c.exchanges()).prompt) for c in conversations))
    candidates = tmp_path / "accounts.txt"
    candidates.write_text("\n".join([*ACCOUNTS, "lab"]))
    monkeypatch.setenv("DISTILLGUARD_WATERMARK_SECRET", SECRET)
    config = gateway_config(
        tmp_path, upstream, watermark=WatermarkConfig(mode="all", secret=SECRET)
    )
    runner = CliRunner()
    args = ["provenance", "--model", "replay-sharegpt", "--prompts", str(prompts)]
    with running_gateway(config, [*ACCOUNTS, "lab"]) as gw:
        monkeypatch.setenv("SUSPECT_API_KEY", gw.keys["lab"])
        out = tmp_path / "report.json"
        run = runner.invoke(
            main,
            [*args, "--suspect-url", gw.base_url, "--accounts", str(candidates), "--out", str(out)],
        )
    assert run.exit_code == 0, run.output
    assert "TRAINED ON OUR OUTPUTS" in run.output
    report = orjson.loads(out.read_bytes())
    assert report["provider_key"]["p_value"] < 1e-6
    assert [a["account_id"] for a in report["accounts"] if a["named"]] == ["lab"]
    # The key was calibrated on held-out ShareGPT answers (the default reference), and the
    # suspect beat every clean subset.
    assert "key calibration: on 200 clean subsets of ~" in run.output
    assert "more significant than 100.0% of them" in run.output
    assert report["key_calibration"]["empirical_p"] == pytest.approx(1 / 201)
    assert report["key_calibration"]["subset_words"] > 0.9 * report["words"]

    reference = tmp_path / "reference.txt"
    reference.write_text("\n".join(a.replace("\n", " ") for a in default_reference(300)))
    control = runner.invoke(
        main,
        [*args, "--suspect-url", upstream + "/v1", "--reference-texts", str(reference)],
    )
    assert control.exit_code == 0, control.output
    assert "no evidence" in control.output
    beaten = float(control.output.split("more significant than ")[1].split("%")[0])
    assert beaten < 95.0  # an unmarked model is nothing special among clean texts
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    refused = runner.invoke(
        main, [*args, "--suspect-url", upstream + "/v1", "--reference-texts", str(empty)]
    )
    assert refused.exit_code != 0 and "too few to calibrate" in refused.output
    assert "probing" not in refused.output  # said before a single request was sent

    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "fine"}\nnot json\n')
    bad = runner.invoke(main, ["provenance", "--suspect-texts", str(texts)])
    assert bad.exit_code != 0 and "texts.jsonl:2: not JSON" in bad.output
    monkeypatch.delenv("DISTILLGUARD_WATERMARK_SECRET")
    unkeyed = runner.invoke(main, ["provenance", "--suspect-texts", str(texts)])
    assert unkeyed.exit_code != 0 and "DISTILLGUARD_WATERMARK_SECRET" in unkeyed.output


PRIVATE_LEXICON = """
sets:  # spelling variants, mostly: a provider's own choice of interchangeable forms
  - {members: [behavior, behaviour]}
  - {members: [organize, organise]}
  - {members: [optimize, optimise]}
  - {members: [color, colour]}
  - {members: [analyze, analyse]}
  - {members: [center, centre]}
  - {members: [favorite, favourite]}
  - {members: [behaviors, behaviours]}
  - {members: [the following, the below], only_before: [steps, code, example, examples]}
  - members: [a few, several]
    only_before: [ways, things, steps, examples, reasons, tips, options, factors, days, times]
  - {members: [in other words, put differently], position: sentence, trail: [","]}
  - {members: [is able to, can], only_after: [it, this, that, he, she, which, who]}
"""


def test_a_private_lexicon_marks_and_is_needed_to_find_the_mark(
    tmp_path: Path,
    upstream: str,
    conversations: list[Conversation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider's own sets (`watermark.lexicon`) mark the answers; provenance finds them only
    when given the same file (`--lexicon`); a broken file fails at start-up and in the CLI."""
    from click.testing import CliRunner

    from distillguard.cli import main
    from distillguard.config import ConfigError, load_config

    private = tmp_path / "private.yaml"
    private.write_text(PRIVATE_LEXICON)
    config = gateway_config(
        tmp_path, upstream, watermark=WatermarkConfig(mode="all", secret=SECRET, lexicon=private)
    )
    prompts = [next(c.exchanges()).prompt for c in conversations]
    with running_gateway(config, ACCOUNTS) as gw:
        served = [ask(gw.base_url, gw.keys["alice"], p) for p in prompts]
    expected = TextWatermarker.from_secret(Lexicon.load(private), SECRET.encode(), "alice")
    originals = [ask(upstream + "/v1", "unused", p) for p in prompts]
    assert served == [expected.watermark(o) for o in originals]  # the private sets, not ours
    assert sum(s != o for s, o in zip(served, originals, strict=True)) >= 8

    texts = tmp_path / "served.jsonl"
    texts.write_bytes(b"\n".join(orjson.dumps({"text": s}) for s in served))
    monkeypatch.setenv("DISTILLGUARD_WATERMARK_SECRET", SECRET)
    runner = CliRunner()
    found = runner.invoke(
        main, ["provenance", "--suspect-texts", str(texts), "--lexicon", str(private)]
    )
    assert found.exit_code == 0 and "TRAINED ON OUR OUTPUTS" in found.output, found.output
    ours = {entry.key for entry in Lexicon.load().sets}
    assert not ours & {entry.key for entry in Lexicon.load(private).sets}  # no set shared
    packaged = TextWatermarkTest(Lexicon.load(), SECRET.encode()).score(served)
    assert packaged.p_value > 0.01  # the public lexicon cannot see the private mark

    broken = tmp_path / "broken.yaml"
    broken.write_text("sets:\n  - {members: [it is]}\n")  # a set needs two members
    bad = runner.invoke(
        main, ["provenance", "--suspect-texts", str(texts), "--lexicon", str(broken)]
    )
    assert bad.exit_code != 0 and "two or more" in bad.output
    yaml_file = tmp_path / "gateway.yaml"
    yaml_file.write_text(f"watermark: {{mode: all, secret: {SECRET}, lexicon: broken.yaml}}\n")
    with pytest.raises(ConfigError, match="broken.yaml.*two or more"):
        load_config(yaml_file)  # relative to the config's folder, like every path in it
