"""Load on ``rag-attrib serve`` over loopback: requests/s and latency with 1, 4 and 16 concurrent clients, the
queue's 429s when overloaded, the server's memory, and the HTTP layer's overhead against a direct library call.

    python benchmarks/bench_serve.py [--model smollm2] [--requests 8] [--clients 1,4,16] [--queue 4] [--threads 1]

It starts the real command (``rag-attrib serve``) on a free port of 127.0.0.1 (never another address), sends
``--requests`` POST /v1/verify requests per level (RAG records of 3 chunks and a 2-sentence answer, as
``bench_verify.py``'s) from that many concurrent clients, which do not retry a 429, then stops it with SIGTERM.
Bounded: every request times out after ``--timeout`` seconds and the whole run stops after ``--max-seconds``.

The HTTP overhead is measured twice: inside the server (a request's time from the first byte in to the last
byte out, less its time in the model, from /metrics) and from outside (the latency with one client against
``verify_line`` called directly in this process on the same record, right after it: the pairs alternate, so a
machine that gets busier slows both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_verify import write_records

ROOT = Path(__file__).resolve().parents[1]


def records(n: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        write_records(path, n)
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def summary(clients: int, statuses: list[int], latencies: list[float], wall: float) -> dict:
    """One row: answers by status, requests answered per second, latency percentiles of the answered ones."""
    return {"clients": clients, "ok": statuses.count(200), "429": statuses.count(429),
            "other": len(statuses) - statuses.count(200) - statuses.count(429), "rps": statuses.count(200) / wall,
            "p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9), "p99": percentile(latencies, 0.99),
            "mean": statistics.mean(latencies) if latencies else float("nan")}


def paired(url: str, bodies: list[dict], attributor, timeout: float) -> tuple[dict, list[float]]:
    """One client: each request over HTTP, then the same record through ``verify_line`` in this process."""
    from rag_attrib.batch import verify_line

    latencies, direct, statuses = [], [], []
    started = time.perf_counter()
    with httpx.Client() as http:
        for n, body in enumerate(bodies, 1):
            sent = time.perf_counter()
            statuses.append(http.post(f"{url}/v1/verify", json=body, timeout=timeout).status_code)
            latencies.append(time.perf_counter() - sent)
            called = time.perf_counter()
            verify_line(attributor, json.dumps(body, ensure_ascii=False), n)
            direct.append(time.perf_counter() - called)
    wall = time.perf_counter() - started - sum(direct)
    return summary(1, statuses, latencies, wall), direct


async def level(url: str, bodies: list[dict], clients: int, timeout: float) -> dict:
    """``len(bodies)`` requests from ``clients`` concurrent clients; each takes the next body until none is left."""
    todo, latencies, statuses = list(bodies), [], []

    async def client(http: httpx.AsyncClient) -> None:
        while todo:
            body = todo.pop()
            started = time.perf_counter()
            response = await http.post(f"{url}/v1/verify", json=body, timeout=timeout)
            statuses.append(response.status_code)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - started
    return summary(clients, statuses, latencies, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--requests", type=int, default=8, help="requests per level")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--queue", type=int, default=4, help="the server's --queue (16 clients overload 4)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--max-seconds", type=float, default=1800)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    bodies = records(args.requests)
    from rag_attrib.serve import load_attributor

    attributor = load_attributor(args.model, {}, args.threads)  # the direct calls' own model, as the server's
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "rag_attrib.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", args.model, "--threads", str(args.threads), "--queue", str(args.queue)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, rss, direct, count = [], [], [], 0
    try:
        while True:
            assert server.poll() is None, "the server exited; run the command above to see why"
            assert time.monotonic() < deadline, "the server did not get ready in time"
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        before = httpx.get(f"{url}/metrics", timeout=30).text
        rss.append(rss_mib(server.pid))
        for clients in (int(c) for c in args.clients.split(",")):
            assert time.monotonic() < deadline, "out of time (--max-seconds)"
            if clients == 1:
                row, direct = paired(url, bodies, attributor, args.timeout)
                rows.append(row)
            else:
                rows.append(asyncio.run(level(url, bodies, clients, args.timeout)))
            rss.append(rss_mib(server.pid))
            if clients == 1:
                after = httpx.get(f"{url}/metrics", timeout=30).text
                count = metric(after, "rag_attrib_attribution_seconds_count") - metric(
                    before, "rag_attrib_attribution_seconds_count")
                in_model = metric(after, "rag_attrib_attribution_seconds_sum") - metric(
                    before, "rag_attrib_attribution_seconds_sum")
                name = 'rag_attrib_request_seconds_sum{endpoint="/v1/verify"}'
                in_server = metric(after, name) - metric(before, name)
        load_seconds = metric(httpx.get(f"{url}/metrics", timeout=30).text, "rag_attrib_model_load_seconds")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    print(f"model {args.model}, {args.threads} torch thread(s), --queue {args.queue}, {args.requests} requests per "
          f"level, model load {load_seconds:.1f} s")
    print("| clients | ok | 429 | other | requests/s | p50 s | p90 s | p99 s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['ok']} | {r['429']} | {r['other']} | {r['rps']:.2f} | {r['p50']:.2f} | "
              f"{r['p90']:.2f} | {r['p99']:.2f} |")
    print(f"server RSS (MiB) when ready, then after each level: {', '.join(f'{m:.0f}' for m in rss)}")
    if rows and rows[0]["clients"] == 1 and count:
        print(f"inside the server, one client: {in_server / count:.3f} s per request, {in_model / count:.3f} s of it "
              f"in the model: HTTP layer {100 * (in_server - in_model) / in_model:.2f} %")
        mean_direct = statistics.mean(direct)
        print(f"from outside: {rows[0]['mean']:.3f} s per request over HTTP against {mean_direct:.3f} s for "
              f"verify_line in this process, alternating: {100 * (rows[0]['mean'] - mean_direct) / mean_direct:+.1f} %")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
