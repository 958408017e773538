"""The tape the timelines are drawn from: bounded, filterable, and honest about values."""

from __future__ import annotations

import json

import numpy as np

from distillguard.engine import Engine
from distillguard.population import Population
from distillguard.report import figures
from distillguard.report.highlight import pieces
from distillguard.report.html import figure_div, script_json
from distillguard.report.tape import _CHUNK, ACTIONS, Tape


def test_rows_come_back_in_order_and_filtered_by_account() -> None:
    tape = Tape(["elicitation", "timing"], capacity=None)
    assert len(tape.view()) == 0 and tape.view().signals.shape == (0, 2)
    for i in range(10):
        account = "a" if i % 2 else "b"
        action = "block" if i == 9 else "allow"
        tape.record(100.0 + i, account, action, "coding", i / 10, {"timing": i / 9, "nope": 1.0})
    view = tape.view(["a"])
    assert list(view.ts) == [101.0, 103.0, 105.0, 107.0, 109.0]
    assert [view.accounts[c] for c in view.account] == ["a"] * 5
    assert ACTIONS[view.action[-1]] == "block"
    assert np.allclose(view.signal("timing"), [1 / 9, 3 / 9, 5 / 9, 7 / 9, 1.0], atol=1 / 255)
    assert not view.signal("elicitation").any()
    assert len(tape.view(["nobody"])) == 0


def test_capacity_drops_the_oldest_whole_chunks() -> None:
    capacity = _CHUNK + 100
    tape = Tape([], capacity=capacity)
    for i in range(3 * _CHUNK + 5):
        tape.record(float(i), f"acct{i % 3}", "allow", "chat", 0.0, {})
    assert capacity <= len(tape) <= capacity + _CHUNK
    assert tape.dropped == 3 * _CHUNK + 5 - len(tape) > 0
    view = tape.view()
    assert view.ts[-1] == 3 * _CHUNK + 4 and view.ts[0] == tape.dropped


def test_figures_draw_from_the_tape() -> None:
    tape = Tape(["timing"], capacity=None)
    for i in range(120):
        tape.record(1_700_000_000.0 + 60 * i, f"a{i % 4}", ACTIONS[i % 3], "math", 0.5, {})
    traffic = figures.traffic(tape.view())
    assert sum(int(sum(t.y)) for t in traffic.data) == 120
    assert {t.name for t in traffic.data} == {"allow", "flag", "throttle"}
    focus = figures.focus(tape.view(["a0", "a1"]))
    bars = [t for t in focus.data if t.type == "bar"]
    assert sum(int(sum(t.y)) for t in bars) == 60
    active = next(t for t in focus.data if t.name == "active accounts")
    assert max(active.y) <= 2
    assert figures.traffic(Tape([], None).view()).to_plotly_json()["layout"]["annotations"]


SCAFFOLD = "You are a strict grader. Grade the answer below on a scale of one to ten."


def graded(i: int) -> str:
    return f"{SCAFFOLD} Answer: the {['river', 'loaf', 'engine', 'comet'][i % 4]} moves {i} ways."


def test_highlight_marks_only_shared_scaffold_sentences() -> None:
    engine = Engine()
    for i in range(40):
        engine.process(
            {
                "ts": 1_700_000_000.0 + i,
                "request_id": f"r{i}",
                "account_id": f"acct{i % 4}",
                "ip": f"198.51.{i % 4}.7",
                "model": "m",
                "request": {"messages": [{"role": "user", "content": graded(i)}]},
            }
        )
    text = graded(99)
    found = pieces(text, engine.population)
    assert "".join(p.text for p in found) == text  # nothing hidden, nothing added
    marked = [p.text.strip() for p in found if p.accounts]
    assert "Grade the answer below on a scale of one to ten." in marked
    assert all("comet" not in m and "99" not in m for m in marked)  # the filled-in data
    assert all(p.accounts == 0 for p in pieces(text, Population(1000)))  # nothing known yet


def test_figure_json_cannot_end_its_script_element() -> None:
    hostile = '</script><!--<script>alert(1)//"&'
    tape = Tape(["timing"], capacity=None)
    tape.record(1.0, hostile, "allow", hostile, 0.9, {"timing": 0.5})
    for fig in (figures.traffic(tape.view()), figures.focus(tape.view())):
        text = script_json(fig)
        assert not set("<>&") & set(text)
        assert json.loads(text)  # still the same JSON
    assert "<!--" not in figure_div(figures.focus(tape.view()), "f")


def test_account_signals_draws_the_strongest_signals() -> None:
    tape = Tape(["quiet", "loud", "medium"], capacity=None)
    for i in range(5):
        tape.record(float(i), "a", "flag", "math", 0.6, {"loud": 0.9, "medium": 0.4})
    names = [t.name for t in figures.account_signals(tape.view(["a"]), 0.5, top=2).data]
    assert names == ["loud", "medium", "score"]
