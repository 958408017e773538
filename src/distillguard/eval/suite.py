"""``distillguard eval``: several seeds and both template banks, in parallel processes."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import orjson

from distillguard.engine_config import EngineConfig
from distillguard.eval.metrics import headline, run_metrics
from distillguard.eval.report import markdown, write_html
from distillguard.eval.runner import RunResult, run_once
from distillguard.sim.world import Scenario


def _one(args: tuple[Scenario, EngineConfig]) -> RunResult:
    scenario, config = args
    return run_once(scenario, config)


def run_suite(
    base: Scenario,
    seeds: list[int],
    banks: list[str],
    config: EngineConfig,
    out: Path,
    workers: int = 2,
) -> tuple[str, dict[str, list[RunResult]]]:
    started = time.perf_counter()
    jobs = [(base.with_(seed=s, template_bank=b), config) for b in banks for s in seeds]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_one, jobs))
    else:
        results = [_one(job) for job in jobs]
    by_bank: dict[str, list[RunResult]] = {}
    for result in results:
        by_bank.setdefault(result.template_bank, []).append(result)
    seconds = time.perf_counter() - started
    text = markdown(by_bank, seconds)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text, encoding="utf-8")
    write_html(out / "report.html", by_bank, text, config.scoring.flag_threshold)
    summary = {
        "seconds": seconds,
        "runs": [
            {
                "seed": r.seed,
                "template_bank": r.template_bank,
                "scale": r.scale,
                "events": r.events,
                "seconds_detect": r.seconds_detect,
                "events_per_second_detect": r.events / r.seconds_detect if r.seconds_detect else 0,
                "headline": asdict(headline(r)),
                "groups": [asdict(g) for g in run_metrics(r)],
            }
            for r in results
        ],
    }
    (out / "results.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return text, by_bank
