"""Release surge: a harvest operation pivoting to the newly released model within a day.

Reported campaigns redirected most of their traffic to a new model within 24 hours of its
release, at higher volume; ordinary customers adopt a new model over weeks. Before the release
the accounts look like any scripted harvest at a moderate rate.
"""

from __future__ import annotations

from collections.abc import Iterator

from distillguard.sim.attacks_content import humaneval_items, reasoning_items, simulated_reasoning
from distillguard.sim.attacks_hydra import Scaffold
from distillguard.sim.attacks_infra import (
    CampaignSource,
    Lazy,
    Persona,
    active_span,
    body,
    build_personas,
    check_options,
    opt_float,
    opt_int,
    script_sharing,
    volume,
)
from distillguard.sim.attacks_timing import scripted
from distillguard.sim.context import SimContext, SourceSpec
from distillguard.sim.core import CURRENT_MODEL, DAY, HOUR, NEW_MODEL, SimRequest, TrafficSource
from distillguard.sim.templates import bank

SURGE_OPTIONS = frozenset(
    {"pivot_hours", "surge_hours", "surge_factor", "pre_days", "post_days", "new_model_share",
     "coding_share", "task_size"}
)  # fmt: skip


def release_surge(ctx: SimContext, spec: SourceSpec) -> TrafficSource:
    """Harvest on the current model, then most traffic on the new one hours after its release.

    Default volume 200-500 requests per account between ``pre_days`` (3) before and
    ``post_days`` (3) after ``window.release_ts`` (``start_day``/``days`` override the span).
    Each account pivots 0.5-``pivot_hours`` (10) hours after the release; from then on
    ``new_model_share`` (0.9) of its requests name NEW_MODEL, at ``surge_factor`` (4) times
    the earlier rate for ``surge_hours`` (36), then back to the base rate. Other options:
    ``coding_share`` (0.3), ``task_size`` (1000), ``payment_methods``, ``networks``. The
    ``model`` option does not apply: the pivot is the point.
    """
    check_options(spec, SURGE_OPTIONS)
    w = ctx.window
    if "start_day" in spec.options or "days" in spec.options:
        start, end = active_span(ctx, spec)
    else:
        start = max(w.start, w.release_ts - DAY * opt_float(spec, "pre_days", 3.0))
        end = min(w.end, w.release_ts + DAY * opt_float(spec, "post_days", 3.0))
        start, end = min(start, end - HOUR), max(end, start + HOUR)
    crng = ctx.rng(spec.name, "campaign")
    tb = bank(ctx.template_bank)
    personas = build_personas(ctx, spec, "release-surge", script_sharing(spec, crng), start)
    scaffold = Scaffold.draw(tb, crng, opt_float(spec, "coding_share", 0.3))
    pivot_hours = opt_float(spec, "pivot_hours", 10.0)
    surge_hours = opt_float(spec, "surge_hours", 36.0)
    factor = opt_float(spec, "surge_factor", 4.0)
    new_share = opt_float(spec, "new_model_share", 0.9)
    size = opt_int(spec, "task_size", 1000)
    tasks = Lazy(lambda: reasoning_items(ctx, ("gsm_symbolic", "syllogism", "aiw"), size))
    stubs = Lazy(lambda: humaneval_items(ctx))

    def stream(p: Persona) -> Iterator[SimRequest]:
        rng = ctx.rng(spec.name, "acct", p.index)
        count = volume(rng, spec, (200, 500))
        pivot = min(max(start, w.release_ts + HOUR * rng.uniform(0.5, pivot_hours)), end)
        surge_end = min(end, pivot + HOUR * surge_hours)
        # Split the volume by time spent in each phase, the surge weighted by its factor.
        spans = (pivot - start, (surge_end - pivot) * factor, end - surge_end)
        total = sum(spans) or 1.0
        n_pre, n_surge = (round(count * s / total) for s in spans[:2])
        times = scripted(rng, n_pre, start, pivot)
        times += scripted(rng, n_surge, pivot, surge_end, gap=(1.0, 10.0))
        times += scripted(rng, max(0, count - n_pre - n_surge), surge_end, end)
        times.sort()
        for ts in times:
            model = NEW_MODEL if ts >= pivot and rng.random() < new_share else CURRENT_MODEL
            messages, item = scaffold.fill(rng, tasks.get(), stubs.get())
            yield SimRequest(
                ts=ts,
                **p.identity(rng),
                body=body(model, messages, **scaffold.params),
                answer=item.answer,
                reasoning=simulated_reasoning(rng, item),
                harvest=True,
            )

    return CampaignSource(personas, stream)
