"""How much one request looks like harvesting: the per-request content evidence.

A single request proves nothing (people ask for step-by-step answers every day); these values
only matter summed over an account's or a campaign's traffic.
"""

from __future__ import annotations

from distillguard.features.request import RequestFeatures

CEILING_TOKENS = 8192


# A label or a score fits in a few tokens; soft labels worth distilling cover whole answers.
SHORT_OUTPUT_TOKENS = 32


def long_output(f: RequestFeatures) -> bool:
    return f.max_tokens == 0 or f.max_tokens > SHORT_OUTPUT_TOKENS


def soft_labels(f: RequestFeatures) -> bool:
    """Token distributions over a whole answer: what logprob distillation harvests. A
    classifier reading the logprobs of a one-token label is not doing that."""
    return f.logprobs and f.top_logprobs >= 3 and long_output(f)


def harvest_parts(f: RequestFeatures) -> dict[str, float]:
    fam = f.families
    parts: dict[str, float] = {}
    if "cot_strong" in fam:
        parts["cot"] = 1.0
    elif "cot_weak" in fam:
        parts["cot"] = 0.25
    if "lang_demand" in fam and "cot" in parts:
        parts["lang_demand"] = 0.9
    if "rubric" in fam:
        parts["rubric"] = 0.9
    if "rewrite_safe" in fam:
        parts["rewrite"] = 0.9
    if "synthetic" in fam:
        parts["synthetic"] = 0.6
    if soft_labels(f):
        parts["logprobs"] = 1.0
    if f.n >= 2 and long_output(f):
        parts["n"] = 0.5
    if f.tools and not f.tool_results and not f.has_history:
        parts["tools_single_turn"] = 0.7
    if f.images and not f.has_history:
        parts["vision_single_turn"] = 0.5
    if f.max_tokens >= CEILING_TOKENS:
        parts["max_tokens_ceiling"] = 0.3
    return parts


def harvest_score(f: RequestFeatures) -> float:
    parts = harvest_parts(f)
    return max(parts.values()) if parts else 0.0
