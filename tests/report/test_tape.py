"""The tape the timelines are drawn from: bounded, filterable, and honest about values."""

from __future__ import annotations

import numpy as np

from distillguard.population import Population
from distillguard.report import figures
from distillguard.report.highlight import pieces
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
    tape = Tape([], capacity=_CHUNK)
    for i in range(3 * _CHUNK + 5):
        tape.record(float(i), f"acct{i % 3}", "allow", "chat", 0.0, {})
    assert _CHUNK <= len(tape) <= 2 * _CHUNK
    assert tape.dropped == 3 * _CHUNK + 5 - len(tape)
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


def test_highlight_marks_only_shared_scaffold_sentences() -> None:
    population = Population(10_000)
    text = "Grade this answer strictly on a scale of one to ten. The answer: rivers flow north."
    assert "".join(p.text for p in pieces(text, population)) == text
    assert all(p.accounts == 0 for p in pieces(text, population))
