"""What the gateway adds: the same load sent directly to the replay upstream and through the
gateway, interleaved in one run, with event logging on.

Closed loop (``--concurrency`` always in flight) gives maximum throughput; open loop (constant
arrivals at ``--rate``, at most ``--concurrency`` in flight) gives latency at that rate. Direct
and gateway requests alternate in blocks whose order is drawn at random per pair, so machine
noise falls on both alike. Added latency is the difference of percentiles, gateway − direct.

Target (the issue): ≤ 1 ms added at p50 and ≤ 5 ms at p99 at 500 requests/s.

    .venv/bin/python benchmarks/gateway_overhead.py [--requests N] [--concurrency 32]
        [--rate 500] [--out FILE.json] [--quick] [--profile] [--client raw|httpx]

The load generator is this process; the upstream and the gateway are two more. On a 2-core
machine the three compete for CPU (with anything else running there), and the per-phase CPU
table says by how much. The default client (``--client raw``: httptools over asyncio) costs
~0.12 ms CPU per request here against ~2-3 ms for ``httpx.AsyncClient`` at concurrency 32, so
it leaves the cores to the servers being measured. ``--profile`` runs ``py-spy record`` (not a
project dependency: ``pip install py-spy``) on the gateway during the open-loop phases.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson
import yaml

from _load import (
    HttpxClient,
    Job,
    RawClient,
    Sample,
    Sender,
    Summary,
    closed_loop,
    open_loop,
    summarize,
)
from distillguard.data.sharegpt import load_conversations
from distillguard.procs import free_port, start_cli, stop, wait_ready
from distillguard.store.eventlog import count_logged_events
from distillguard.store.keys import KeyStore

MODEL: Final = "replay-sharegpt"
TARGETS: Final = ("direct", "gateway")
TARGET_P50_MS: Final = 1.0
TARGET_P99_MS: Final = 5.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Servers:
    upstream_url: str
    gateway_url: str
    upstream_pid: int
    gateway_pid: int
    event_log: Path
    secret: str
    stop_gateway: Callable[[], int]


@dataclass(frozen=True, slots=True)
class Cpu:
    """CPU seconds of each process over one phase."""

    wall: float
    client: float
    upstream: float
    gateway: float
    machine: float  # busy CPU seconds of the whole machine, every process included


@dataclass(slots=True)
class Phase:
    mode: str  # "closed" | "open"
    stream: bool
    samples: list[Sample] = field(default_factory=list)
    cpu: Cpu | None = None

    @property
    def label(self) -> str:
        return f"{self.mode}/{'stream' if self.stream else 'json'}"

    def summary(self, target: str) -> Summary:
        return summarize([s for s in self.samples if s.target == target])


# --- servers ---------------------------------------------------------------------------------


def _replay_command(port: int, conversations: int, answer_chars: int) -> list[str]:
    """The replay upstream with short answers (``max_answer_chars`` is not on the CLI)."""
    code = (
        "from distillguard.upstream.replay import ReplaySettings, run_replay; "
        f"run_replay('127.0.0.1', {port}, ReplaySettings(conversations={conversations}, "
        f"max_answer_chars={answer_chars}))"
    )
    return [sys.executable, "-c", code]


@contextmanager
def servers(workdir: Path, conversations: int, answer_chars: int) -> Iterator[Servers]:
    up_port, gw_port = free_port(), free_port()
    event_log = workdir / "events.sqlite"
    keys_db = workdir / "keys.sqlite"
    config = {
        "listen": {"host": "127.0.0.1", "port": gw_port},
        "upstream": {"base_url": f"http://127.0.0.1:{up_port}/v1"},
        "event_log": {"path": str(event_log), "flush_interval_ms": 200},
        "auth": {"keys_db": str(keys_db)},
    }
    config_path = workdir / "gateway.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    secret = "dg-bench-" + secrets.token_hex(16)
    with KeyStore(keys_db) as store:
        store.add("bench", label="gateway_overhead", secret=secret)

    with (workdir / "upstream.log").open("ab") as log:
        upstream = subprocess.Popen(
            _replay_command(up_port, conversations, answer_chars), stdout=log, stderr=log
        )
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/v1/models", upstream)
        gateway = start_cli(
            ["serve", "--config", str(config_path)],
            f"http://127.0.0.1:{gw_port}/healthz",
            log_file=workdir / "gateway.log",
        )
        try:
            yield Servers(
                upstream_url=f"http://127.0.0.1:{up_port}/v1/chat/completions",
                gateway_url=f"http://127.0.0.1:{gw_port}/v1/chat/completions",
                upstream_pid=upstream.pid,
                gateway_pid=gateway.pid,
                event_log=event_log,
                secret=secret,
                stop_gateway=lambda: stop(gateway),
            )
        finally:
            stop(gateway)
    finally:
        stop(upstream)


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> float:
    """Busy CPU seconds of the whole machine since boot (Linux /proc/stat; NaN elsewhere)."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_now(srv: Servers) -> Cpu:
    return Cpu(
        time.perf_counter(),
        time.process_time(),
        _proc_cpu(srv.upstream_pid),
        _proc_cpu(srv.gateway_pid),
        _machine_cpu(),
    )


def _cpu_delta(before: Cpu, after: Cpu) -> Cpu:
    return Cpu(
        after.wall - before.wall,
        after.client - before.client,
        after.upstream - before.upstream,
        after.gateway - before.gateway,
        after.machine - before.machine,
    )


# --- load plan -------------------------------------------------------------------------------


def request_bodies(count: int, stream: bool, max_prompt_chars: int) -> list[bytes]:
    """Real ShareGPT first user turns, as a client would send them."""
    bodies = []
    for convo in load_conversations(count):
        message = {"role": "user", "content": convo.first_user_text[:max_prompt_chars]}
        body: dict[str, Any] = {"model": MODEL, "messages": [message]}
        if stream:
            body["stream"] = True
        bodies.append(orjson.dumps(body))
    return bodies


def interleaved(
    bodies: Sequence[bytes], n: int, block: int, stream: bool, rng: random.Random, first_id: int
) -> list[Job]:
    """n requests per target in blocks of ``block``; each pair of blocks in random order.

    Both blocks of a pair send the same bodies, so body sizes are matched between targets.
    """
    jobs: list[Job] = []
    block_id = first_id
    for pair in range(math.ceil(n / block)):
        size = min(block, n - pair * block)
        order = list(TARGETS)
        rng.shuffle(order)
        for target in order:
            for i in range(size):
                body = bodies[(pair * block + i) % len(bodies)]
                jobs.append(Job(target, block_id, body, stream))
            block_id += 1
    return jobs


# --- profile ---------------------------------------------------------------------------------


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_profile(exe: str, pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    # --nonblocking: do not pause the gateway for each sample (pausing would add latency).
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw"]
    cmd += ["--nonblocking", "--nolineno", "--threads", "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_profile(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UPSTREAM_CLIENT: Final = "upstream client (transport.py, httpx)"
_LAYERS: Final = (
    ("gateway/transport.py", _UPSTREAM_CLIENT),  # before "distillguard": it is ours too
    ("distillguard", "distillguard (our code)"),
    ("eventlog", "distillguard (our code)"),
    ("httpcore", _UPSTREAM_CLIENT),
    ("httpx", _UPSTREAM_CLIENT),
    ("h11", _UPSTREAM_CLIENT),
    ("uvicorn", "uvicorn (server, HTTP parsing)"),
    ("starlette", "starlette (routing, request/response)"),
    ("anyio", "anyio (task groups, streams)"),
    ("sniffio", "anyio (task groups, streams)"),
    ("asyncio", "asyncio/uvloop (event loop)"),
    ("uvloop", "asyncio/uvloop (event loop)"),
    ("sqlite3", "distillguard (our code)"),
    ("orjson", "distillguard (our code)"),
)


def _layer(frame: str) -> str:
    where = frame[frame.rfind("(") + 1 :] if "(" in frame else frame
    for needle, layer in _LAYERS:
        if needle in where:
            return layer
    return "other (stdlib, ...)"


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    seconds: float
    own: list[tuple[str, int]]  # leaf frame, samples
    inclusive: list[tuple[str, int]]  # distillguard frames, samples anywhere on the stack
    layers: list[tuple[str, int]]
    threads: list[tuple[str, int]]


def read_profile(path: Path, seconds: float, top: int = 25) -> Profile:
    """Aggregate py-spy's raw (collapsed) stacks: own time per function, by layer and thread."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "thread ?")
        frames = [f for f in frames if not f.startswith(("thread ", "process "))]
        if not frames:
            continue
        total += count
        threads[thread] += count
        own[frames[-1]] += count
        layers[_layer(frames[-1])] += count
        for frame in set(frames):
            if "distillguard" in frame:
                inclusive[frame] += count
    return Profile(
        samples=total,
        seconds=seconds,
        own=own.most_common(top),
        inclusive=inclusive.most_common(top),
        layers=layers.most_common(),
        threads=threads.most_common(),
    )


def print_profile(profile: Profile, rate: int, cpu_per_request: float) -> None:
    """Shares of the samples; µs/req splits the gateway's measured CPU per request by them.

    py-spy counts a thread as active when it is runnable, even while another process holds the
    core, so on a busy machine its sample count overstates CPU; the shares still hold.
    """
    total = max(profile.samples, 1)
    cores = profile.samples / rate / profile.seconds if profile.seconds > 0 else float("nan")
    per_request_us = cpu_per_request * 1e6
    print(
        f"\npy-spy on the gateway during the open-loop phases (--nonblocking; without native "
        f"frames a C call\ncounts as its Python caller, so socket writes show as the frame that "
        f"calls them): {profile.samples}\nsamples at {rate} Hz over {profile.seconds:.1f} s "
        f"(running or runnable ≈ {cores:.2f} cores); measured CPU {per_request_us:.0f} µs/request"
    )
    print("\n  own time by layer (leaf frame)                  share   µs/req")
    for name, count in profile.layers:
        share = count / total
        print(f"    {name:<44} {100 * share:5.1f}%  {share * per_request_us:6.0f}")
    print("\n  by thread:")
    for name, count in profile.threads:
        print(f"    {100 * count / total:5.1f}%  {name}")
    print("\n  top functions by own time:")
    for name, count in profile.own:
        print(f"    {100 * count / total:5.1f}%  {name}")
    print("\n  distillguard functions, inclusive (anywhere on the stack):")
    for name, count in profile.inclusive[:15]:
        print(f"    {100 * count / total:5.1f}%  {name}")


# --- run -------------------------------------------------------------------------------------


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """uvloop when installed (it comes with uvicorn[standard]): a cheaper client."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


@dataclass(frozen=True, slots=True)
class Settings:
    requests: int
    concurrency: int
    rate: float
    block: int
    answer_chars: int
    prompt_chars: int
    conversations: int
    seed: int
    profile: bool
    profile_rate: int
    client: str
    keep_profile: Path | None  # where to copy py-spy's raw stacks


@dataclass(slots=True)
class Outcome:
    phases: list[Phase]
    gateway_sent: int
    profile: Profile | None
    profile_note: str | None


async def drive(settings: Settings, srv: Servers, workdir: Path) -> Outcome:
    rng = random.Random(settings.seed)
    bodies = {
        stream: request_bodies(settings.conversations, stream, settings.prompt_chars)
        for stream in (False, True)
    }
    client_type = HttpxClient if settings.client == "httpx" else RawClient
    client: Sender = client_type(
        {"direct": srv.upstream_url, "gateway": srv.gateway_url},
        pool_size=settings.concurrency,
        headers={"authorization": f"Bearer {srv.secret}", "user-agent": "gateway-overhead"},
    )
    gateway_sent = 0
    next_block = 0

    def plan(stream: bool, n: int) -> list[Job]:
        nonlocal gateway_sent, next_block
        jobs = interleaved(bodies[stream], n, settings.block, stream, rng, next_block)
        next_block += 2 * math.ceil(n / settings.block)
        gateway_sent += sum(job.target == "gateway" for job in jobs)
        return jobs

    phases = [Phase(mode, stream) for mode in ("closed", "open") for stream in (False, True)]
    profiler: subprocess.Popen[bytes] | None = None
    profile_out = workdir / "gateway.pyspy.txt"
    profile_started = 0.0
    profile_seconds = 0.0
    note: str | None = None
    try:
        warm = max(100, 4 * settings.concurrency)
        for stream in (False, True):  # fill the pools: ours and the gateway's upstream pool
            await closed_loop(client, plan(stream, warm), settings.concurrency)
        for phase in phases:
            jobs = plan(phase.stream, settings.requests)
            if phase.mode == "open" and settings.profile and profiler is None:
                exe = _py_spy()
                if exe is None:
                    note = "py-spy is not installed (pip install py-spy); profile skipped"
                else:
                    profiler = start_profile(
                        exe, srv.gateway_pid, profile_out, settings.profile_rate
                    )
                    await asyncio.sleep(1.0)  # let py-spy attach before the load starts
                    profile_started = time.perf_counter()
            print(f"  {phase.label}: {len(jobs)} requests ...", flush=True)
            before = _cpu_now(srv)
            if phase.mode == "closed":
                phase.samples = await closed_loop(client, jobs, settings.concurrency)
            else:
                phase.samples = await open_loop(client, jobs, settings.rate, settings.concurrency)
            phase.cpu = _cpu_delta(before, _cpu_now(srv))
    finally:
        if profiler is not None:
            profile_seconds = time.perf_counter() - profile_started
            stop_profile(profiler)
        await client.aclose()
    profile = None
    if profiler is not None:
        if profile_out.exists():
            profile = read_profile(profile_out, profile_seconds)
            if settings.keep_profile is not None:
                shutil.copyfile(profile_out, settings.keep_profile)
        else:
            err = profiler.stderr.read().decode(errors="replace") if profiler.stderr else ""
            note = f"py-spy wrote no profile: {err.strip()[-500:]}"
    return Outcome(phases, gateway_sent, profile, note)


# --- report ----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def print_tables(phases: Sequence[Phase], settings: Settings) -> dict[str, bool]:
    print(
        "\nmode    stream  target       n  err     req/s   p50 ms   p90 ms   p99 ms"
        "  ttfb50ms ttfb99ms  lag99ms"
    )
    for phase in phases:
        for target in TARGETS:
            s = phase.summary(target)
            print(
                f"{phase.mode:<7} {'yes' if phase.stream else 'no':<6}  {target:<8} {s.n:6d} "
                f"{s.errors:4d} {s.rps:9.1f} {_ms(s.p50)} {_ms(s.p90)} {_ms(s.p99)}"
                f"  {_ms(s.ttfb_p50)} {_ms(s.ttfb_p99)} {_ms(s.p99_lag)}"
            )
    print(
        "\nadded by the gateway (gateway − direct, difference of percentiles)\n"
        "mode    stream   +p50 ms  +p90 ms  +p99 ms  +ttfb50  gateway/direct req/s"
    )
    verdicts: dict[str, bool] = {}
    for phase in phases:
        d, g = phase.summary("direct"), phase.summary("gateway")
        add50, add99 = g.p50 - d.p50, g.p99 - d.p99
        print(
            f"{phase.mode:<7} {'yes' if phase.stream else 'no':<6} {_ms(add50)} "
            f"{_ms(g.p90 - d.p90)} {_ms(add99)} {_ms(g.ttfb_p50 - d.ttfb_p50)}"
            f"  {g.rps / d.rps:8.3f}"
        )
        if phase.mode == "open":
            verdicts[phase.label] = (
                add50 * 1000 <= TARGET_P50_MS and add99 * 1000 <= TARGET_P99_MS and g.errors == 0
            )
    for phase in phases:
        if phase.mode != "open":
            continue
        for target in TARGETS:
            s = phase.summary(target)
            if s.p99_lag > 0.005 or s.rps < 0.95 * settings.rate:
                print(
                    f"  ! {phase.label} {target}: did not keep up with {settings.rate:g} req/s "
                    f"(achieved {s.rps:.0f}/s; sends up to {s.max_lag * 1000:.0f} ms late: all "
                    f"{settings.concurrency} slots busy, or the client short of CPU)"
                )
    print(
        "\nCPU per phase (2 cores shared by all three processes; 1.00 = one core busy)\n"
        "phase          wall s  client  upstream  gateway  other   gateway µs/req  upstream µs/req"
    )
    for phase in phases:
        cpu = phase.cpu
        if cpu is None:
            continue
        n_gateway = sum(s.target == "gateway" for s in phase.samples)
        other = max(0.0, cpu.machine - cpu.client - cpu.upstream - cpu.gateway)
        print(
            f"{phase.label:<13} {cpu.wall:7.2f}  {cpu.client / cpu.wall:6.2f}  "
            f"{cpu.upstream / cpu.wall:8.2f}  {cpu.gateway / cpu.wall:7.2f}  "
            f"{other / cpu.wall:5.2f}   "
            f"{cpu.gateway / max(n_gateway, 1) * 1e6:14.0f}  "
            f"{cpu.upstream / max(len(phase.samples), 1) * 1e6:15.0f}"
        )
    print(
        "\nnote: the load generator ('client') runs in this process on the same 2 cores as the"
        " upstream and\n      the gateway and competes with both, for direct and gateway requests"
        " alike; 'other' is every\n      other process on the machine plus hypervisor steal"
        " (py-spy too when profiling). µs/req is CPU\n      per request: the gateway's over the"
        " requests it served, the upstream's over all it served."
    )
    return verdicts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="per target and phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop arrivals/s")
    parser.add_argument("--block", type=int, default=250, help="requests per interleaved block")
    parser.add_argument("--answer-chars", type=int, default=500, help="upstream answer length")
    parser.add_argument("--prompt-chars", type=int, default=2000)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="load generator: httptools over asyncio (cheap) or httpx.AsyncClient",
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="400 requests: a smoke run")
    parser.add_argument("--profile", action="store_true", help="py-spy the open-loop phases")
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples/s")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.block, args.conversations = 400, 100, 100
    if args.requests < 1 or args.concurrency < 1 or args.rate <= 0 or args.block < 1:
        parser.error("--requests, --concurrency, --block and --rate must be positive")
    settings = Settings(
        requests=args.requests,
        concurrency=args.concurrency,
        rate=args.rate,
        block=args.block,
        answer_chars=args.answer_chars,
        prompt_chars=args.prompt_chars,
        conversations=args.conversations,
        seed=args.seed,
        profile=args.profile,
        profile_rate=args.profile_rate,
        client=args.client,
        keep_profile=args.out.with_suffix(".pyspy.txt") if args.out and args.profile else None,
    )
    print(
        f"gateway overhead: {settings.requests} requests per target and phase, concurrency "
        f"{settings.concurrency}, open loop at {settings.rate:g} req/s, blocks of "
        f"{settings.block}, answers ≤ {settings.answer_chars} chars, {settings.client} client, "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="dg-overhead-") as tmp:
        workdir = Path(tmp)
        with servers(workdir, settings.conversations, settings.answer_chars) as srv:
            outcome = _run_async(drive(settings, srv, workdir))
            code = srv.stop_gateway()  # SIGTERM: the gateway flushes its event log
        logged = count_logged_events(srv.event_log)
        if code not in (0, -signal.SIGTERM):
            print((workdir / "gateway.log").read_text(errors="replace")[-2000:])

    if settings.profile:
        print("\n(profiled run: py-spy shares the 2 cores, so its latencies are perturbed)")
    verdicts = print_tables(outcome.phases, settings)
    events_ok = logged == outcome.gateway_sent
    clean_exit = code in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after shutting down
    print(
        f"\nevent log: {logged} events for {outcome.gateway_sent} gateway requests "
        f"(warm-up included) — {'OK' if events_ok else 'MISMATCH'}; gateway exit code {code}"
    )
    met = all(verdicts.values())
    for label, ok in verdicts.items():
        print(
            f"target ≤{TARGET_P50_MS:g} ms p50 / ≤{TARGET_P99_MS:g} ms p99 added at "
            f"{settings.rate:g} req/s, {label}: {'MET' if ok else 'NOT MET'}"
        )
    print(f"overall target: {'MET' if met else 'NOT MET'}")
    if outcome.profile is not None:
        open_phases = [p for p in outcome.phases if p.mode == "open" and p.cpu is not None]
        served = sum(s.target == "gateway" for p in open_phases for s in p.samples)
        gateway_cpu = sum(p.cpu.gateway for p in open_phases if p.cpu is not None)
        print_profile(outcome.profile, settings.profile_rate, gateway_cpu / max(served, 1))
    if outcome.profile_note:
        print(f"\nprofile: {outcome.profile_note}")
    if args.out:
        result = {
            "settings": {**asdict(settings), "keep_profile": str(settings.keep_profile)},
            "cpu_count": os.cpu_count(),
            "phases": [
                {
                    "mode": p.mode,
                    "stream": p.stream,
                    "cpu": asdict(p.cpu) if p.cpu else None,
                    **{t: asdict(p.summary(t)) for t in TARGETS},
                }
                for p in outcome.phases
            ],
            "targets": verdicts,
            "events": {"logged": logged, "gateway_requests": outcome.gateway_sent},
            "profile": asdict(outcome.profile) if outcome.profile else None,
            "profile_note": outcome.profile_note,
        }
        args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
        print(f"\nwrote {args.out}")
        if settings.keep_profile is not None and settings.keep_profile.exists():
            print(f"wrote {settings.keep_profile} (py-spy's raw stacks)")
    return 0 if events_ok and clean_exit else 1


if __name__ == "__main__":
    sys.exit(main())
