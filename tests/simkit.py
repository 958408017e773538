"""What the simulator's source tests share: the window and a way to run one source."""

from __future__ import annotations

from collections.abc import Sequence

from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import DAY, SimAccount, SimRequest, SimWindow
from distillguard.sim.world import FACTORIES

START = 1769990400.0  # 2026-02-02 00:00 UTC, a Monday
WINDOW = SimWindow(START, 7, START + 4 * DAY)

Generated = tuple[Sequence[SimAccount], list[SimRequest]]


def generate(ctx: SimContext, kind: str, accounts: int, **options: object) -> Generated:
    """One source of ``kind`` (any registered kind), run to the end."""
    source = FACTORIES[kind](ctx, SourceSpec(kind, accounts, f"t-{kind}", options=options))
    return source.accounts(), list(source.requests())
