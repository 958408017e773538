"""Tool-use harvests: agentic coding and computer use on synthetic single-turn tasks.

Real agents loop: call a tool, get its result, call again. Harvesters send tool definitions on
one-shot tasks and never return a tool result, or fabricate a whole multi-step transcript inside
a single request; computer-use harvest sends a screenshot and asks for the next action as JSON.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from distillguard.sim.attacks_content import (
    CODE_RE,
    Item,
    fake_png_b64,
    humaneval_items,
    sharegpt_items,
    simulated_reasoning,
)
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    active_span,
    body,
    build_personas,
    check_options,
    opt_bool,
    opt_float,
    opt_int,
    pick_model,
    script_sharing,
    volume,
    with_system,
)
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import SimRequest, TrafficSource
from distillguard.sim.templates import bank


@dataclass(frozen=True, slots=True)
class Tool:
    """A function tool; bodies get a fresh definition each, so no request shares a dict."""

    name: str
    description: str
    params: tuple[tuple[str, str], ...]  # (name, description), all strings, all required

    def definition(self) -> dict[str, Any]:
        properties = {k: {"type": "string", "description": v} for k, v in self.params}
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": properties,
                    "required": [k for k, _ in self.params],
                },
            },
        }


# Tool sets as agent frameworks commonly declare them; a campaign uses one throughout.
TOOLSETS: Final = (
    (
        Tool("read_file", "Read a file from the workspace.", (("path", "File path"),)),
        Tool("write_file", "Write a file.", (("path", "File path"), ("content", "File content"))),
        Tool("run_tests", "Run the test suite and return the output.", (("target", "Test path"),)),
        Tool("list_dir", "List a directory.", (("path", "Directory path"),)),
    ),
    (
        Tool("bash", "Run a shell command.", (("command", "The command"),)),
        Tool(
            "str_replace_editor",
            "View or edit files.",
            (
                ("command", "view|create|str_replace"),
                ("path", "File path"),
                ("new_str", "New text"),
            ),
        ),
    ),  # fmt: skip
    (
        Tool("execute_python", "Execute Python code, return stdout.", (("code", "Python source"),)),
        Tool("search_code", "Search the repository.", (("query", "Search query"),)),
        Tool("apply_patch", "Apply a unified diff.", (("patch", "The diff"),)),
        Tool("run_tests", "Run the tests.", (("target", "Test path"),)),
    ),
)
COMPUTER_TOOL: Final = Tool(
    "computer",
    "Control the mouse and keyboard of a desktop.",
    (
        ("action", "click|double_click|type|key|scroll|screenshot"),
        ("coordinate", "x,y in pixels"),
        ("text", "Text to type or key to press"),
    ),
)


def _call(rng: random.Random, tool: Tool, item: Item) -> dict[str, Any]:
    path = f"src/{item.gold or 'solution'}.py"
    args = {k: path if k in ("path", "target") else "" for k, _ in tool.params}
    call_id = "call_" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=24))
    function = {"name": tool.name, "arguments": json.dumps(args)}
    return {"id": call_id, "type": "function", "function": function}


def fabricated_transcript(
    rng: random.Random, tools: tuple[Tool, ...], item: Item
) -> list[dict[str, Any]]:
    """Assistant tool calls and invented tool results, all written by the sender in one request."""
    out: list[dict[str, Any]] = []
    for tool in rng.sample(tools, min(len(tools), rng.randint(1, 3))):
        call = _call(rng, tool, item)
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        result = rng.choice((item.question[:800], "OK", "1 failed, 0 passed", "No such file"))
        out.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return out


AGENTIC_OPTIONS = frozenset(
    {"templates", "transcript_share", "humaneval_share", "tool_choice", "thinks", "max_tokens"}
)


def agentic_coding(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Tool definitions on single-turn HumanEval / ShareGPT coding tasks; no real tool loop.

    Default volume 200-500 requests per account, scripted (from day 0.4). Options:
    ``templates`` (3), ``transcript_share`` (0.25 requests carry a fabricated multi-step
    transcript), ``humaneval_share`` (0.5, rest ShareGPT coding prompts), ``tool_choice``
    (campaign value "auto" or "required"), ``thinks`` (True), ``max_tokens`` (4096/8192),
    plus the common options.
    """
    check_options(spec, AGENTIC_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.4)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "agentic-coding", script_sharing(spec, crng), start)
    templates = tb.sample(crng, "agentic-coding", opt_int(spec, "templates", 3))
    tools = crng.choice(TOOLSETS)
    system = tb.pick(crng, "system-prompt").text if crng.random() < 0.7 else None
    params = {
        "tool_choice": spec.options.get("tool_choice", crng.choice(("auto", "required"))),
        "temperature": crng.choice((0.0, 0.2)),
        "max_tokens": opt_int(spec, "max_tokens", crng.choice((4096, 8192))),
    }
    stubs = Lazy(lambda: humaneval_items(ctx))
    chat = Lazy(lambda: sharegpt_items(ctx, "attack", CODE_RE))
    transcript_share = opt_float(spec, "transcript_share", 0.25)
    humaneval_share = opt_float(spec, "humaneval_share", 0.5)
    thinks = opt_bool(spec, "thinks", True)

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (200, 500)), start, end)
        he, coding = stubs.get(), chat.get()
        for ts in times:
            item = rng.choice(he if not coding or rng.random() < humaneval_share else coding)
            text = rng.choice(templates).render(task=item.question)
            messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
            if rng.random() < transcript_share:
                messages += fabricated_transcript(rng, tools, item)
            plan = (
                "Plan:\n1. Inspect the task.\n2. Write the implementation.\n3. Run the tests.\n\n"
            )
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(
                    pick_model(ctx, spec, rng, ts),
                    with_system(system, messages),
                    tools=[t.definition() for t in tools],
                    **params,
                ),
                answer=plan + item.answer,
                reasoning=simulated_reasoning(rng, item) if thinks else "",
                harvest=True,
            )

    return CampaignSource(personas, stream)


COMPUTER_OPTIONS = frozenset({"templates", "trajectory_share", "tools_share", "max_tokens"})
_ACTIONS = ("click", "double_click", "type", "scroll", "key")
# Where on the desktop the harvested request is to be carried out (goals are ShareGPT requests).
_SETTINGS = ("", "In the web browser, ", "Using the open text editor, ", "In the terminal, ",
             "In the IDE window, ", "Using the spreadsheet app, ", "On the web page, ")  # fmt: skip


def _screen(rng: random.Random, text: str) -> list[dict[str, Any]]:
    url = "data:image/png;base64," + fake_png_b64(rng)
    return [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}]


def _action(rng: random.Random, goal: str) -> str:
    """A next-action answer built from the goal and fixed wording (no model writes it)."""
    return json.dumps(
        {
            "thought": f"The goal is: {goal[:120]}. The relevant control is visible on screen.",
            "action": rng.choice(_ACTIONS),
            "x": rng.randrange(20, 1900),
            "y": rng.randrange(20, 1060),
        }
    )


def computer_use(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Screenshots (short fake base64 PNGs) plus "describe the screen, next action as JSON".

    Default volume 150-400 requests per account, scripted (from day 0.4); goals are short
    ShareGPT requests. Options: ``templates`` (3), ``trajectory_share`` (0.3: a fabricated
    earlier step and second screenshot in the same request), ``tools_share`` (0.5 of requests
    declare a "computer" tool), ``max_tokens`` (1024), plus the common options.
    """
    check_options(spec, COMPUTER_OPTIONS)
    start, end = active_span(ctx, spec, start_day=0.4)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "computer-use", script_sharing(spec, crng), start)
    templates = tb.sample(crng, "computer-use", opt_int(spec, "templates", 3))
    system = tb.pick(crng, "system-prompt").text if crng.random() < 0.5 else None
    max_tokens = opt_int(spec, "max_tokens", 1024)
    trajectory_share = opt_float(spec, "trajectory_share", 0.3)
    tools_share = opt_float(spec, "tools_share", 0.5)
    goals = Lazy(
        lambda: [
            it
            for it in sharegpt_items(ctx, "attack")
            if len(it.question) <= 200 and "\n" not in it.question.strip()
        ]
    )

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        times = scripted(rng, volume(rng, spec, (150, 400)), start, end)
        pool = goals.get()
        for ts in times:
            goal = rng.choice(pool)
            request = goal.question.strip()
            setting = rng.choice(_SETTINGS)
            if setting:
                request = setting + request[:1].lower() + request[1:]
            text = rng.choice(templates).render(task=request)
            messages: list[dict[str, Any]] = [{"role": "user", "content": _screen(rng, text)}]
            if rng.random() < trajectory_share:
                messages.append({"role": "assistant", "content": _action(rng, goal.question)})
                messages.append({"role": "user", "content": _screen(rng, "Done. New screen:")})
            params: dict[str, Any] = {"max_tokens": max_tokens, "temperature": 0.0}
            if rng.random() < tools_share:
                params["tools"] = [COMPUTER_TOOL.definition()]
            action = _action(rng, goal.question)
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(pick_model(ctx, spec, rng, ts), with_system(system, messages), **params),
                answer=action,
                reasoning=simulated_reasoning(rng, Item(goal.question, action, "", "sharegpt")),
                harvest=True,
            )

    return CampaignSource(personas, stream)
