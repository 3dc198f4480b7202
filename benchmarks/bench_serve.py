"""Load on ``rag-attrib serve`` over loopback: requests/s and latency with 1, 4 and 16 concurrent clients, the
queue's 429s when overloaded, the server's memory, and the HTTP layer's overhead against a direct library call.

    python benchmarks/bench_serve.py [--model smollm2] [--requests 8] [--clients 1,4,16] [--queue 4] [--threads 1]

It starts the real command (``rag-attrib serve``) on a free port of 127.0.0.1 (never another address) and sends
POST /v1/verify records: short cases of the realistic set (``--data``), each cut to the first two sentences of
its answer that have a gold chunk, cited with markers, and three chunks (the gold ones and the next). One request
over HTTP and one direct call warm both models up first (not measured). Each level
sends ``max(--requests, clients)`` requests from that many concurrent clients, which do not retry a 429 (so 16
clients against ``--queue 4`` overload the server); the server is stopped with SIGTERM at the end. Bounded: every
request times out after ``--timeout`` seconds and the run stops after ``--max-seconds``.

The HTTP overhead is measured twice. Inside the server: a request's time from the first byte in to the last byte
out, less its time in the model (from /metrics). From outside: with one client, each record over HTTP and through
``verify_line`` called directly in this process on its own copy of the model, one after the other, the order
alternating from pair to pair, so that a machine that gets busier slows both arms alike; the ratio is the median of
the pairs' ratios, in wall time and in CPU time (over HTTP: the server's process and this client's; CPU time moves
less than wall time when other jobs share the cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def short_records(data: str, n: int) -> list[dict]:
    """``n`` /v1/verify records from the first ``n`` cases of ``data`` that have two sentences with a gold chunk."""
    from rag_attrib.eval.data import load_cases

    out = []
    for case in load_cases(data):
        sentences = [s for s in case.sentences if s.gold][:2]
        if len(sentences) < 2:
            continue
        gold = list(dict.fromkeys(g for s in sentences for g in s.gold))
        others = [c for c in case.chunks if c.id not in gold]
        chunks = [c for c in case.chunks if c.id in gold or c in others[:max(0, 3 - len(gold))]]
        number = {c.id: i for i, c in enumerate(chunks, 1)}
        answer = " ".join(f"{s.text[:-1]} [{number[s.gold[0]]}]." if s.text.endswith(".") else
                          f"{s.text} [{number[s.gold[0]]}]" for s in sentences)
        out.append({"id": case.id, "question": case.question, "answer": answer,
                    "chunks": [{"id": c.id, "text": c.text} for c in chunks]})
        if len(out) == n:
            return out
    raise SystemExit(f"{data} has only {len(out)} cases with two gold sentences; ask for fewer requests")


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
    return {"clients": clients, "sent": len(statuses), "ok": statuses.count(200), "429": statuses.count(429),
            "other": len(statuses) - statuses.count(200) - statuses.count(429), "rps": statuses.count(200) / wall,
            "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
            "mean": statistics.mean(latencies) if latencies else float("nan")}


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user and system) of process ``pid``, or of this process."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def paired(url: str, server_pid: int, bodies: list[dict], attributor, timeout: float) -> tuple[dict, list[dict]]:
    """One client: each record over HTTP and through ``verify_line`` in this process, alternating which goes first;
    per pair the wall time and the CPU time of each arm (over HTTP: the server's and this client's)."""
    from rag_attrib.batch import verify_line

    pairs, statuses = [], []
    with httpx.Client() as http:
        for n, body in enumerate(bodies, 1):
            pair = {}

            def over_http(body: dict = body, pair: dict = pair) -> None:
                cpu, sent = cpu_seconds(server_pid) + cpu_seconds(), time.perf_counter()
                statuses.append(http.post(f"{url}/v1/verify", json=body, timeout=timeout).status_code)
                pair["http"] = time.perf_counter() - sent
                pair["http_cpu"] = cpu_seconds(server_pid) + cpu_seconds() - cpu

            def in_process(body: dict = body, n: int = n, pair: dict = pair) -> None:
                cpu, called = cpu_seconds(), time.perf_counter()
                verify_line(attributor, json.dumps(body, ensure_ascii=False), n)
                pair["direct"] = time.perf_counter() - called
                pair["direct_cpu"] = cpu_seconds() - cpu

            for arm in (over_http, in_process) if n % 2 else (in_process, over_http):
                arm()
            pairs.append(pair)
    latencies = [p["http"] for p in pairs]
    return summary(1, statuses, latencies, sum(latencies)), pairs


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
    return summary(clients, statuses, latencies, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--data", default="realistic-test", help="the cases the records are cut from")
    parser.add_argument("--requests", type=int, default=8, help="requests per level (at least one per client)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--queue", type=int, default=4, help="the server's --queue (16 clients overload 4)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    levels = [int(c) for c in args.clients.split(",")]
    bodies = short_records(args.data, max(args.requests, *levels))
    from rag_attrib.batch import verify_line
    from rag_attrib.serve import load_attributor

    attributor = load_attributor(args.model, {"memory": "auto"}, args.threads)  # as the server loads its own
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "rag_attrib.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--model", args.model, "--threads", str(args.threads), "--queue", str(args.queue)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, rss, pairs, inside = [], [], [], None
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
        rss.append(rss_mib(server.pid))
        warm_up = bodies[-1]  # the first call of either arm allocates what the next ones reuse: not measured
        assert httpx.post(f"{url}/v1/verify", json=warm_up, timeout=args.timeout).status_code == 200
        verify_line(attributor, json.dumps(warm_up, ensure_ascii=False), 1)
        rss.append(rss_mib(server.pid))
        for clients in levels:
            assert time.monotonic() < deadline, "out of time (--max-seconds)"
            before = httpx.get(f"{url}/metrics", timeout=30).text
            sent = bodies[:max(args.requests, clients)]
            if clients == 1:
                row, pairs = paired(url, server.pid, sent, attributor, args.timeout)
                after = httpx.get(f"{url}/metrics", timeout=30).text
                inside = [metric(after, name) - metric(before, name) for name in (
                    'rag_attrib_request_seconds_sum{endpoint="/v1/verify"}', "rag_attrib_attribution_seconds_sum")]
            else:
                row = asyncio.run(level(url, sent, clients, args.timeout))
            rows.append(row)
            rss.append(rss_mib(server.pid))
        alive = server.poll() is None and httpx.get(f"{url}/readyz", timeout=30).status_code == 200
        load_seconds = metric(httpx.get(f"{url}/metrics", timeout=30).text, "rag_attrib_model_load_seconds")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(args.timeout)

    print(f"model {args.model}, {args.threads} torch thread(s), --queue {args.queue}, records from {args.data}, "
          f"model load {load_seconds:.1f} s, load average at the end {os.getloadavg()[0]:.1f}")
    print("| clients | sent | 200 | 429 | other | requests/s | p50 s | p95 s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clients']} | {r['sent']} | {r['ok']} | {r['429']} | {r['other']} | {r['rps']:.3f} | "
              f"{r['p50']:.2f} | {r['p95']:.2f} |")
    print(f"server RSS (MiB) when ready, after one request, then after each level: {', '.join(f'{m:.0f}' for m in rss)}; "
          f"ready after the last level: {alive}")
    if inside:
        in_server, in_model = inside
        print(f"inside the server, one client: {in_server:.2f} s in requests, {in_model:.2f} s of it in the model: "
              f"HTTP layer {100 * (in_server - in_model) / in_model:.2f} %")
    if pairs:
        print("| pair | over HTTP s | direct s | ratio | over HTTP CPU s (server + client) | direct CPU s | ratio |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n, p in enumerate(pairs, 1):
            print(f"| {n} | {p['http']:.2f} | {p['direct']:.2f} | {p['http'] / p['direct']:.3f} | {p['http_cpu']:.2f} | "
                  f"{p['direct_cpu']:.2f} | {p['http_cpu'] / p['direct_cpu']:.3f} |")
        for what in ("", "_cpu"):
            ratios = [p["http" + what] / p["direct" + what] for p in pairs]
            print(f"over HTTP / direct{' (CPU time)' if what else ' (wall time)'}: median of the pairs' ratios "
                  f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); medians "
                  f"{statistics.median(p['http' + what] for p in pairs):.2f} s and "
                  f"{statistics.median(p['direct' + what] for p in pairs):.2f} s")

if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
