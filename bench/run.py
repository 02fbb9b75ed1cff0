"""`make bench`: latency and throughput of the real server over loopback, as ratios against a floor.

For each scenario and concurrency the same body is sent to the floor route (JSON read, `{"cards": []}`)
and to the CDS service on the same server, for a fixed time each; the table shows both and the ratio.
Absolute numbers on a shared 2-core machine are noise: read the ratios. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import profile, scenarios

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=200)


@dataclass
class Cell:
    throughput: float
    p50: float
    p95: float
    p99: float
    errors: int
    count: int
    cpu_ms_per_call: float | None = None
    """The server's CPU (every worker, both user and system time) per call while measuring: what a call costs the
    machine, apart from the load generator. None where /proc cannot be read."""


def server_cpu_seconds(group: int) -> float | None:
    """CPU seconds used so far by every process of the server's process group (Linux /proc), else None."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        return None
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(factory: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if factory == "bench.server:build":  # the service as `serve --workers N` runs it (bench/server.py)
        command = [sys.executable, "-m", "bench.server", str(port), str(workers)]
    else:
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(  # its own process group: stopping it stops its workers too
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240  # workers import the FHIR models and compile the rulesets: slow when busy
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{factory} exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(
                f"http://127.0.0.1:{port}/healthz" if "fhir" not in factory else f"http://127.0.0.1:{port}/Patient/x",
                timeout=1,
            ).status_code in (200, 404):
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{factory} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers left behind, if any
    if process.stderr is not None:
        process.stderr.close()


async def load(
    base: str,
    units: list[list[scenarios.Call]],
    concurrency: int,
    seconds: float,
    *,
    floor: bool = False,
    server_group: int | None = None,
) -> Cell:
    """`concurrency` clients send units back to back for `seconds` (after a short warm-up).

    A unit is one call, or a session's calls in order; its latency is the whole unit's. Each client walks the
    rotation of patients from its own offset. The floor gets the same bodies at `/bench/floor`.
    """
    latencies: list[float] = []
    errors = 0
    headers = {"content-type": "application/json"}
    prepared = [
        [
            (f"{base}/bench/floor" if floor else f"{base}/cds-services/{c.service}", json.dumps(c.body).encode())
            for c in u
        ]
        for u in units
    ]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one(unit: list[tuple[str, bytes]]) -> None:
            nonlocal errors
            started = time.perf_counter()
            for url, body in unit:
                try:
                    response = await client.post(url, content=body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if not ok:
                    errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        async def worker(offset: int, until: float) -> None:
            turn = offset
            while time.perf_counter() < until:
                await one(prepared[turn % len(prepared)])
                turn += 1

        warm_until = time.perf_counter() + min(1.0, seconds / 3)
        await asyncio.gather(*(worker(k, warm_until) for k in range(concurrency)))
        latencies.clear()
        errors = 0
        cpu_before = server_cpu_seconds(server_group) if server_group is not None else None
        started = time.perf_counter()
        await asyncio.gather(*(worker(k * 7, started + seconds) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu_after = server_cpu_seconds(server_group) if server_group is not None else None
    ordered = sorted(latencies)
    calls = len(ordered) * len(units[0])
    cpu_per_call = (
        (cpu_after - cpu_before) * 1000 / calls if cpu_before is not None and cpu_after is not None and calls else None
    )

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    return Cell(
        len(ordered) / elapsed,
        statistics.median(ordered) if ordered else float("nan"),
        pct(95),
        pct(99),
        errors,
        len(ordered),
        cpu_per_call,
    )


def machine() -> str:
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {system}"


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table (for the README), then the targets and the busy request's profile."""
    load = results.get("load", {})
    lines = [
        f"Machine: {results['machine']}; {results['seconds']:g} s per cell; {results.get('patients', 1)} patients "
        f"rotated per scenario; load average {load.get('before', '?')} before, {load.get('after', '?')} after.",
        "",
        "| scenario | body KB | workers | clients | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| floor req/s | floor p50 ms | req/s ratio | p50 ratio | CPU ms/call | floor CPU ms/call |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results["rows"]:
        f, s = r["floor"], r["service"]
        lines.append(
            f"| {r['scenario']} | {r['kb']:.0f} | {r['workers']} | {r['concurrency']} | {s['throughput']:.0f} "
            f"| {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['errors'] + f['errors']} "
            f"| {f['throughput']:.0f} | {f['p50']:.1f} "
            f"| {s['throughput'] / f['throughput']:.0%} | {s['p50'] / f['p50']:.1f}× "
            f"| {_ms(s.get('cpu_ms_per_call'))} | {_ms(f.get('cpu_ms_per_call'))} |"
        )
    if results.get("targets"):
        lines += ["", "| target | measured | met |", "|---|--:|:-:|"]
        lines += [f"| {t['target']} | {t['value']} | {'yes' if t['met'] else 'no'} |" for t in results["targets"]]
    if results.get("profile"):
        p = results["profile"]
        lines += [
            "",
            f"Busy patient-view in-process, µs per step ({p['validated']} resources validated, {p['cards']} cards):",
            "",
            "| step | µs |",
            "|---|--:|",
        ]
        lines += [f"| {step} | {us:,} |" for step, us in p["steps_us"].items()]
        lines.append(f"| **total** | **{p['total_us']:,}** |")
    if results.get("rotated"):
        r = results["rotated"]
        lines += [
            "",
            "The same request cold (median per step over 20 patients rotated, each step run once per call), the",
            "whole call through the app (framework, middleware, thread hops, suppression, audit queue and writer,",
            "response) and the floor route's call on the same app, in-process CPU µs:",
            "",
            "| step | µs |",
            "|---|--:|",
        ]
        lines += [f"| {step} | {us:,} |" for step, us in r["steps_us"].items()]
        lines.append(f"| **sum of the steps** | **{r['total_us']:,}** |")
        lines.append(f"| whole call through the app | {r['whole_call_us']:,} |")
        lines.append(f"| floor call, same app | {r['floor_call_us']:,} |")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _row(rows: list[dict[str, Any]], scenario: str, workers: int, clients: int) -> dict[str, Any] | None:
    return next(
        (r for r in rows if r["scenario"] == scenario and r["workers"] == workers and r["concurrency"] == clients),
        None,
    )


def targets(rows: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Issue 14's targets, each with the figure measured in this run (one worker, ratios to the floor)."""
    checks: list[dict[str, Any]] = []

    def ratio(name: str, clients: int, goal: float) -> None:
        r = _row(rows, name, 1, clients)
        if r:
            value = r["service"]["throughput"] / r["floor"]["throughput"]
            checks.append(
                {
                    "target": f"{name}: req/s ≥ {goal:.0%} of floor ({clients} clients)",
                    "value": f"{value:.0%}",
                    "met": value >= goal,
                }
            )

    def p50(name: str, goal: float) -> None:
        r = _row(rows, name, 1, 1)
        if r:
            value = r["service"]["p50"] / r["floor"]["p50"]
            checks.append(
                {"target": f"{name}: p50 ≤ {goal:g}× floor (1 client)", "value": f"{value:.1f}×", "met": value <= goal}
            )

    ratio(scenarios.BUSY, 16, 0.22)
    p50(scenarios.BUSY, 5)
    for name in (scenarios.TYPICAL, scenarios.SIGN):
        ratio(name, 16, 0.35)
        p50(name, 3)
    ratio(scenarios.LARGE, 16, 0.50)
    session, busy = _row(rows, scenarios.SESSION, 1, 1), _row(rows, scenarios.BUSY, 1, 1)
    if session and busy:
        value = session["service"]["p50"] / busy["service"]["p50"]
        checks.append(
            {
                "target": "session (5 calls) p50 ≤ 2.5× one cold busy patient-view p50",
                "value": f"{value:.2f}×",
                "met": value <= 2.5,
            }
        )
    one, many = _row(rows, scenarios.TYPICAL, 1, 16), _row(rows, scenarios.TYPICAL, workers, 16)
    if one and many and workers > 1:
        value = many["service"]["throughput"] / one["service"]["throughput"]
        checks.append(
            {
                "target": f"{workers} workers ≥ 1.6× one worker's req/s (typical, 16 clients)",
                "value": f"{value:.2f}×",
                "met": value >= 1.6,
            }
        )
    if one:
        value = one["service"]["p99"]
        checks.append({"target": "typical p99 ≤ 250 ms (16 clients)", "value": f"{value:.0f} ms", "met": value <= 250})
    errors = sum(r["service"]["errors"] + r["floor"]["errors"] for r in rows)
    checks.append({"target": "no errors", "value": str(errors), "met": errors == 0})
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "4")), help="measuring time per cell"
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the N of the multi-worker run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--only", nargs="*", help="scenario names to run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--markdown", type=Path, help="print the table of an earlier --json file as Markdown, and exit")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text(encoding="utf-8"))))
        return

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    now = scenarios.now()
    with tempfile.TemporaryDirectory() as tmp:
        # the no-prefetch scenario's FHIR server holds all 20 typical patients
        record_file = Path(tmp) / "typical.json"
        typical = [r for i, p in enumerate(scenarios.patient_ids("fhir"), 7) for r in scenarios.record(200, now, i, p)]
        record_file.write_text(json.dumps(typical), encoding="utf-8")
        fhir_port = free_port()
        fhir = start("bench.server:build_fhir", fhir_port, 1, {"VITDMG_BENCH_RECORD": str(record_file)})
        units = scenarios.all_scenarios(now, f"http://127.0.0.1:{fhir_port}/fhir")
        if args.only:
            units = {k: v for k, v in units.items() if any(o in k for o in args.only)}
        rows: list[dict[str, Any]] = []
        try:
            # the cold scenarios on a server with the validated-resource cache off, so no rotation can profit from
            # it; the session (one record, five calls) on a server with the cache as configured by default
            plan = [(w, cold, "0" if cold else None) for w in sorted({1, args.workers}) for cold in (True, False)]
            for workers, cold, cache_entries in plan:
                chosen = {k: v for k, v in units.items() if (k != scenarios.SESSION) == cold}
                if not chosen:
                    continue
                port = free_port()
                env = {
                    "VITDMG_LOG_LEVEL": "WARNING",
                    "VITDMG_AUTH": "disabled",
                    "VITDMG_DATA_DIR": str(Path(tmp) / f"data-{workers}-{cold}"),
                    "VITDMG_FHIR_ALLOWED_SERVERS": json.dumps([f"http://127.0.0.1:{fhir_port}/fhir"]),
                    "VITDMG_FHIR_HTTP_HOSTS": '["127.0.0.1"]',
                }
                if cache_entries is not None:
                    env["VITDMG_VALIDATION_CACHE_ENTRIES"] = cache_entries
                server = start("bench.server:build", port, workers, env)
                base = f"http://127.0.0.1:{port}"
                try:
                    for name, rotation in chosen.items():
                        calls = [c for unit in rotation for c in unit]
                        kb = sum(len(json.dumps(c.body)) for c in calls) / len(calls) / 1024
                        for concurrency in args.concurrency:
                            group = server.pid  # started in a session of its own: its pid is the group's id
                            floor = asyncio.run(
                                load(base, rotation, concurrency, args.seconds, floor=True, server_group=group)
                            )
                            cds = asyncio.run(load(base, rotation, concurrency, args.seconds, server_group=group))
                            rows.append(
                                {
                                    "scenario": name,
                                    "kb": kb,
                                    "calls_per_unit": len(rotation[0]),
                                    "patients": len(rotation),
                                    "workers": workers,
                                    "concurrency": concurrency,
                                    "floor": floor.__dict__,
                                    "service": cds.__dict__,
                                }
                            )
                            console.print(
                                f"  {name}, {workers} worker(s), {concurrency} client(s): "
                                f"{cds.throughput:.0f} /s vs floor {floor.throughput:.0f}",
                                highlight=False,
                            )
                finally:
                    stop(server)
        finally:
            stop(fhir)
    order = list(units)
    rows.sort(key=lambda r: (r["workers"], order.index(r["scenario"]), r["concurrency"]))
    table = Table(title=f"vitdmg-cds benchmark — {machine()}", title_justify="left")
    for column in (
        "scenario",
        "body KB",
        "workers",
        "clients",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "floor req/s",
        "floor p50 ms",
        "req/s ratio",
        "p50 ratio",
        "CPU ms/call",
        "floor CPU ms/call",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for r in rows:
        f, s = r["floor"], r["service"]
        table.add_row(
            r["scenario"],
            f"{r['kb']:.0f}",
            str(r["workers"]),
            str(r["concurrency"]),
            f"{s['throughput']:.0f}",
            f"{s['p50']:.1f}",
            f"{s['p95']:.1f}",
            f"{s['p99']:.1f}",
            str(s["errors"] + f["errors"]),
            f"{f['throughput']:.0f}",
            f"{f['p50']:.1f}",
            f"{s['throughput'] / f['throughput']:.0%}",
            f"{s['p50'] / f['p50']:.1f}×",
            _ms(s.get("cpu_ms_per_call")),
            _ms(f.get("cpu_ms_per_call")),
        )
    console.print(table)
    checks = targets(rows, args.workers)
    for check in checks:
        console.print(
            f"  {'met    ' if check['met'] else 'NOT MET'}  {check['target']}: {check['value']}", highlight=False
        )
    busy = profile.busy_profile()
    console.print(profile.show(busy, "busy patient-view, in-process"), highlight=False)
    rotated = profile.busy_rotation()
    console.print(profile.show_rotation(rotated, "busy patient-view, in-process"), highlight=False)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average before {load_before}, after {load_after}", highlight=False)
    if args.json:
        results = {
            "machine": machine(),
            "seconds": args.seconds,
            "patients": scenarios.PATIENTS,
            "load": {"before": load_before, "after": load_after},
            "rows": rows,
            "targets": checks,
            "profile": busy,
            "rotated": rotated,
        }
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
