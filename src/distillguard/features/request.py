"""RequestFeatures: everything detection needs from one event, computed once.

This is the single implementation of "what an event means" shared by the live gateway, the
batch ``analyze`` path and the evaluation.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
from dataclasses import dataclass, fields
from typing import Any

from distillguard.events import Event, EventError, parse_ts
from distillguard.features.asks import spans_at
from distillguard.features.matcher import Matcher
from distillguard.features.text import (
    clip,
    content_text,
    h64,
    non_ascii_share,
    segment_hashes,
    skeleton,
)

CAPABILITIES = ("reasoning", "coding", "agentic", "vision", "data", "chat")


@dataclass(slots=True)
class RequestFeatures:
    ts: float
    account_id: str
    ip: str
    ip_prefix: str  # /24 (IPv4) or /48 (IPv6): the unit of "same network"
    user_agent: str
    model: str
    # conversation shape
    n_messages: int
    has_history: bool  # earlier assistant turns are carried
    tool_results: bool  # role "tool" messages: a real agent loop
    # content
    prompt_hash: int  # the newest user message, whitespace- and case-folded
    # The conversation's first user message, folded the same way (= prompt_hash when it is
    # the only one): the requests of one conversation thread share it.
    thread_hash: int
    skeleton_hash: int  # the same, with numbers/quotes/code masked
    segments: tuple[int, ...]
    system_hash: int  # 0 when there is no system prompt
    families: frozenset[str]  # lexicon families found in the newest user message
    capability: str
    non_ascii: float
    ask_spans: tuple[str, ...]  # candidate asks for the semantic layer (features.asks)
    # parameters
    logprobs: bool
    top_logprobs: int
    n: int
    max_tokens: int
    temperature: float | None
    tools: bool
    images: bool
    stream: bool
    param_signature: int
    # outcome
    status: int
    served: bool
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    # account metadata (when the event carries it)
    payment: str | None
    created_at: float | None
    signup_channel: str | None

    def __reduce__(self) -> tuple[type[RequestFeatures], tuple[Any, ...]]:
        # Pickled by the constructor's arguments: ``analyze --workers`` ships every event's
        # features between processes, and slots' default state (a dict of every field) is
        # ~20% larger and slower both ways.
        return RequestFeatures, _FIELDS(self)

    @property
    def cot(self) -> bool:
        return "cot_strong" in self.families

    @property
    def cot_any(self) -> bool:
        return "cot_strong" in self.families or "cot_weak" in self.families


_FIELDS = operator.attrgetter(*(f.name for f in fields(RequestFeatures)))


def client_signature(f: RequestFeatures) -> int:
    """Parameters and user agent hashed together: how a client fingerprints itself."""
    return h64(f"{f.param_signature}|{f.user_agent}")


def network_of(ip: str) -> str:
    """The /24 of an IPv4 address (string work, no parsing) or the /48 of an IPv6 one."""
    head, dot, last = ip.rpartition(".")
    if dot and ":" not in ip and last.isdigit() and head.count(".") == 2:
        return head + ".0/24"
    return _network_slow(ip)


@functools.lru_cache(maxsize=65536)
def _network_slow(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _has_images(messages: list[Any]) -> bool:
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in ("image_url", "input_image"):
                    return True
    return False


def _capability(families: frozenset[str], tools: bool, tool_results: bool, images: bool) -> str:
    if images:
        return "vision"
    if tools or tool_results:
        return "agentic"
    if "code" in families:
        return "coding"
    if "math" in families or "cot_strong" in families:
        return "reasoning"
    if "data" in families:
        return "data"
    return "chat"


def _timestamp(value: object) -> float | None:
    """Account metadata is the provider's data and may be odd: unreadable means unknown."""
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        return None
    try:
        return parse_ts(value)
    except EventError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class TextFeatures:
    prompt_hash: int
    skeleton_hash: int
    segments: tuple[int, ...]
    families: frozenset[str]
    non_ascii: float
    ask_spans: tuple[str, ...]


class TextCache:
    """Text features by prompt text: the same prompt (a retry, a pasted assignment, a
    benchmark item) is analysed once. Bounded: the older half goes when it fills.

    It also remembers parameter signatures: a client sends the same few parameter sets
    again and again, and formatting and hashing one cost more than the rest of ``extract``.
    """

    def __init__(self, size: int = 65_536):
        self.size = size
        self._entries: dict[int, TextFeatures] = {}
        self._signatures: dict[tuple[object, ...], int] = {}

    def get(self, text: str, matcher: Matcher) -> TextFeatures:
        key = h64(text)  # not the text itself: prompts run to kilobytes
        found = self._entries.get(key)
        if found is None:
            found = text_features(text, matcher)
            if len(self._entries) >= self.size:
                for old in list(self._entries)[: self.size // 2]:
                    del self._entries[old]
            self._entries[key] = found
        return found

    def signature(self, params: tuple[object, ...]) -> int:
        found = self._signatures.get(params)
        if found is None:
            if len(self._signatures) >= self.size:
                self._signatures.clear()
            found = self._signatures[params] = param_signature(params)
        return found


def param_signature(params: tuple[object, ...]) -> int:
    """Which parameters a request set, as one hash (the fields joined with ``|``)."""
    return h64("|".join(map(str, params)))


def _signature_key(temperature: float | None) -> object:
    """0.0 == -0.0 as a cache key, but they print differently: keep them apart."""
    return temperature if temperature != 0.0 else str(temperature)


def text_features(text: str, matcher: Matcher) -> TextFeatures:
    lowered = text.lower()
    skel = skeleton(text)
    return TextFeatures(
        prompt_hash=h64(lowered.strip()),
        skeleton_hash=h64(" ".join(skel.split())),
        segments=segment_hashes(skel),
        families=matcher.match(lowered) if lowered else frozenset(),
        non_ascii=non_ascii_share(text),
        ask_spans=spans_at(lowered, matcher.trigger_ends(lowered)) if lowered else (),
    )


def extract(event: Event, matcher: Matcher, cache: TextCache | None = None) -> RequestFeatures:
    request = event.get("request") or {}
    messages = request.get("messages") or []
    if not isinstance(messages, list):
        messages = []
    # One pass over the conversation for what text.last_user_text and text.system_text
    # read, and the roles present.
    user: dict[str, Any] | None = None
    first_user: dict[str, Any] | None = None
    system_parts: list[str] = []
    tool_results = has_history = False
    for message in messages:
        if isinstance(message, dict):
            role = message.get("role")
            if role == "user":
                user = message
                if first_user is None:
                    first_user = message
            elif role == "assistant":
                has_history = True
            elif role == "tool":
                tool_results = True
            elif role == "system" or role == "developer":
                system_parts.append(content_text(message.get("content")))
    text = clip(content_text(user.get("content"))) if user is not None else ""
    tf = cache.get(text, matcher) if cache is not None else text_features(text, matcher)
    families = tf.families
    if first_user is None or first_user is user:
        thread_hash = tf.prompt_hash
    else:
        thread_hash = h64(clip(content_text(first_user.get("content"))).lower().strip())
    system = clip("\n".join(system_parts))
    tools = bool(request.get("tools") or request.get("functions"))
    images = _has_images(messages[-2:])  # the newest turn carries the new screenshot
    temperature = request.get("temperature")
    temp = float(temperature) if isinstance(temperature, int | float) else None
    logprobs = request.get("logprobs") is True
    top_logprobs = _int(request.get("top_logprobs"))
    n = _int(request.get("n"), 1)
    max_tokens = _int(request.get("max_completion_tokens", request.get("max_tokens")))
    stream = request.get("stream") is True
    response = event.get("response") or {}
    rejected = event.get("rejected") or {}
    status = _int(response.get("status"), _int(rejected.get("status"), 200))
    meta = event.get("account_meta")
    if not isinstance(meta, dict):
        meta = {}
    created_at = _timestamp(meta.get("created_at"))
    ip = str(event.get("ip") or "")
    params = (
        logprobs,
        top_logprobs,
        n,
        max_tokens,
        _signature_key(temp),
        tools,
        stream,
        bool(request.get("response_format")),
    )
    signature = param_signature(params) if cache is None else cache.signature(params)
    return RequestFeatures(
        ts=parse_ts(event["ts"]),
        account_id=str(event["account_id"]),
        ip=ip,
        ip_prefix=network_of(ip),
        user_agent=str(event.get("user_agent") or ""),
        model=str(event.get("model") or request.get("model") or ""),
        n_messages=len(messages),
        has_history=has_history,
        tool_results=tool_results,
        prompt_hash=tf.prompt_hash,
        thread_hash=thread_hash,
        skeleton_hash=tf.skeleton_hash,
        segments=tf.segments,
        system_hash=h64(system) if system else 0,
        families=families,
        capability=_capability(families, tools, tool_results, images),
        non_ascii=tf.non_ascii,
        ask_spans=tf.ask_spans,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        n=n,
        max_tokens=max_tokens,
        temperature=temp,
        tools=tools,
        images=images,
        stream=stream,
        param_signature=signature,
        status=status,
        served=bool(response) and 200 <= status < 300,
        prompt_tokens=_int(response.get("prompt_tokens")),
        completion_tokens=_int(response.get("completion_tokens")),
        reasoning_tokens=_int(response.get("reasoning_tokens")),
        payment=_str(meta.get("payment_fingerprint")),
        created_at=created_at,
        signup_channel=_str(meta.get("signup_channel")),
    )
