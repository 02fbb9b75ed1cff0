"""`make bench`: latency and throughput of the real server over loopback, as ratios against a floor.

For each scenario and concurrency the same body is sent to the floor route (JSON read, `{"cards": []}`)
and to the CDS service on the same server, for a fixed time each; the table shows both and the ratio.
Absolute numbers on a shared 2-core machine are noise: read the ratios. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
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
from bench import scenarios

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(factory: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
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
    process.kill()
    raise RuntimeError(f"{factory} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    if process.stderr is not None:
        process.stderr.close()


async def load(url: str, body: bytes, concurrency: int, seconds: float, headers: dict[str, str]) -> Cell:
    """`concurrency` clients send the body back to back for `seconds` (after a short warm-up)."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            if not ok:
                errors += 1

        async def worker(until: float) -> None:
            while time.perf_counter() < until:
                await one()

        warm_until = time.perf_counter() + min(1.0, seconds / 3)
        await asyncio.gather(*(worker(warm_until) for _ in range(concurrency)))
        latencies.clear()
        errors = 0
        started = time.perf_counter()
        await asyncio.gather(*(worker(started + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")

    return Cell(
        len(ordered) / elapsed,
        statistics.median(ordered) if ordered else float("nan"),
        pct(95),
        pct(99),
        errors,
        len(ordered),
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
    """The results as a Markdown table (for the README)."""
    lines = [
        f"Machine: {results['machine']}; {results['seconds']:g} s per cell.",
        "",
        "| scenario | body KB | workers | clients | req/s | p50 ms | p95 ms | p99 ms | errors "
        "| floor req/s | floor p50 ms | req/s ratio | p50 ratio |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results["rows"]:
        f, s = r["floor"], r["service"]
        lines.append(
            f"| {r['scenario']} | {r['kb']:.0f} | {r['workers']} | {r['concurrency']} | {s['throughput']:.0f} "
            f"| {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['errors'] + f['errors']} "
            f"| {f['throughput']:.0f} | {f['p50']:.1f} "
            f"| {s['throughput'] / f['throughput']:.0%} | {s['p50'] / f['p50']:.1f}× |"
        )
    return "\n".join(lines)


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

    now = scenarios.now()
    typical = scenarios.record(200, now)
    with tempfile.TemporaryDirectory() as tmp:
        record_file = Path(tmp) / "typical.json"
        record_file.write_text(json.dumps(typical), encoding="utf-8")
        fhir_port = free_port()
        fhir = start("bench.server:build_fhir", fhir_port, 1, {"VITDMG_BENCH_RECORD": str(record_file)})
        bodies = {
            "patient-view small (10)": scenarios.request("patient-view", scenarios.record(10, now)),
            "patient-view typical (200)": scenarios.request("patient-view", typical),
            "patient-view large (2000)": scenarios.request("patient-view", scenarios.record(2000, now)),
            "order-sign typical + 3 drafts": scenarios.request("order-sign", typical),
            "patient-view, no prefetch (local FHIR)": scenarios.request(
                "patient-view", typical, prefetch=False, fhir_server=f"http://127.0.0.1:{fhir_port}/fhir"
            ),
        }
        if args.only:
            bodies = {k: v for k, v in bodies.items() if any(o in k for o in args.only)}
        services = {"patient-view": "vitd-mg-patient-view", "order-sign": "vitd-mg-order-sign"}
        rows: list[dict[str, Any]] = []
        try:
            for workers in sorted({1, args.workers}):
                port = free_port()
                server = start(
                    "bench.server:build",
                    port,
                    workers,
                    {
                        "VITDMG_LOG_LEVEL": "WARNING",
                        "VITDMG_AUTH": "disabled",
                        "VITDMG_FHIR_ALLOWED_SERVERS": json.dumps([f"http://127.0.0.1:{fhir_port}/fhir"]),
                        "VITDMG_FHIR_HTTP_HOSTS": '["127.0.0.1"]',
                    },
                )
                try:
                    for name, body in bodies.items():
                        raw = json.dumps(body).encode()
                        service = services[body["hook"]]
                        headers = {"content-type": "application/json"}
                        for concurrency in args.concurrency:
                            floor = asyncio.run(
                                load(f"http://127.0.0.1:{port}/bench/floor", raw, concurrency, args.seconds, headers)
                            )
                            cds = asyncio.run(
                                load(
                                    f"http://127.0.0.1:{port}/cds-services/{service}",
                                    raw,
                                    concurrency,
                                    args.seconds,
                                    headers,
                                )
                            )
                            rows.append(
                                {
                                    "scenario": name,
                                    "kb": len(raw) / 1024,
                                    "workers": workers,
                                    "concurrency": concurrency,
                                    "floor": floor.__dict__,
                                    "service": cds.__dict__,
                                }
                            )
                            console.print(
                                f"  {name}, {workers} worker(s), {concurrency} client(s): "
                                f"{cds.throughput:.0f} req/s vs floor {floor.throughput:.0f}",
                                highlight=False,
                            )
                finally:
                    stop(server)
        finally:
            stop(fhir)
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
        )
    console.print(table)
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "seconds": args.seconds, "rows": rows}, indent=2), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
