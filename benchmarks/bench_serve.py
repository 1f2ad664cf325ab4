"""Requests/s and texts/s of ``nerkit serve`` with dynamic batching vs one request at a time.

    python benchmarks/bench_serve.py MODEL [--data FILE] [--clients 32] [--requests 1000]
        [--texts-per-request 1] [--max-batch-size 64] [--max-wait-ms 5] [--threads 2]
        [--max-tokens N] [--rounds 3] [--device cpu] [--client httpx|raw]

Starts ``nerkit serve`` twice on a free loopback port with the same model and
threads: once with dynamic batching (``--max-batch-size``, ``--max-wait-ms``)
and once with ``--max-batch-size 1 --max-wait-ms 0``, where every request is a
model call of its own (one request at a time). The same ``--clients``
concurrent HTTP clients (httpx, keep-alive) send the same ``--requests``
requests of ``--texts-per-request`` texts each to both; every answer must be
200 and both servers must give the same entities. Prints both rows and the
ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(model: Path, threads: int, *args: str) -> Tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "nerkit", "serve", str(model), "--port", str(port)]  # fmt: skip
    cmd += ["--log-level", "warning", *args]  # (--device comes with args)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


async def load(url: str, bodies: List[dict], clients: int) -> Tuple[float, List[list]]:
    answers: List[list] = [None] * len(bodies)
    queue = list(range(len(bodies)))[::-1]

    async def client(session: httpx.AsyncClient) -> None:
        while queue:
            i = queue.pop()
            r = await session.post("/v1/ner", json=bodies[i])
            if r.status_code != 200:
                raise SystemExit(f"request {i}: {r.status_code} {r.text}")
            answers[i] = r.json()["results"]

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as session:
        await session.post("/v1/ner", json=bodies[0])  # warm up
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - start, answers


async def load_raw(url: str, bodies: List[dict], clients: int) -> Tuple[float, List[list]]:
    """The same load from a minimal HTTP/1.1 keep-alive client (asyncio streams), which
    costs the client far less CPU than httpx: on a small machine shared by client and
    server, the server rather than the client is then what limits the rate."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    answers: List[list] = [None] * len(bodies)
    queue = list(range(len(bodies)))[::-1]
    payloads = [json.dumps(b, ensure_ascii=False).encode("utf-8") for b in bodies]

    async def post(reader, writer, i: int) -> None:
        head = f"POST /v1/ner HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        writer.write(f"{head}Content-Length: {len(payloads[i])}\r\n\r\n".encode() + payloads[i])
        status = (await reader.readline()).split()[1]
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        if status != b"200":
            raise SystemExit(f"request {i}: {status.decode()} {body[:300]!r}")
        answers[i] = json.loads(body)["results"]

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while queue:
            await post(reader, writer, queue.pop())
        writer.close()

    reader, writer = await asyncio.open_connection(host, int(port))
    await post(reader, writer, 0)  # warm up
    writer.close()
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, answers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cmeee/CMeEE_test.json")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--texts-per-request", type=int, default=1)
    ap.add_argument("--max-batch-size", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="the servers' --device (cuda for a GPU)")
    ap.add_argument(
        "--client", choices=("httpx", "raw"), default="httpx", help="raw: a minimal asyncio client"
    )
    ap.add_argument(
        "--max-tokens", type=int, default=None, help="serve --max-tokens for the batching server"
    )
    ap.add_argument(
        "--rounds", type=int, default=1, help="alternate the two servers this many times (medians)"
    )
    args = ap.parse_args()
    if not args.data.exists():
        args.data = ROOT / "projects/quickstart/corpus/test.json"
    texts = [r["text"] for r in json.loads(args.data.read_text(encoding="utf8"))]
    rng = random.Random(0)
    k = args.texts_per_request
    bodies = [{"texts": rng.sample(texts, k)} for _ in range(args.requests)]
    batching = [
        "--max-batch-size",
        str(args.max_batch_size),
        "--max-wait-ms",
        str(args.max_wait_ms),
    ]
    if args.max_tokens:
        batching += ["--max-tokens", str(args.max_tokens)]
    servers = {
        "dynamic batching": batching,
        "one at a time": ["--max-batch-size", "1", "--max-wait-ms", "0"],
    }
    runs = {name: [] for name in servers}
    results = {}
    for _ in range(args.rounds):
        for name, opts in servers.items():
            proc, url = start(args.model, args.threads, *opts)
            try:
                seconds, results[name] = asyncio.run(
                    (load_raw if args.client == "raw" else load)(url, bodies, args.clients)
                )
                health = httpx.get(url + "/health").json()
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
            runs[name].append(
                (args.requests / seconds, health["texts"] / max(health["batches"], 1))
            )
    rows = {}
    for name, rs in runs.items():
        rps = statistics.median(r[0] for r in rs)
        rows[name] = (rps, rps * k, statistics.median(r[1] for r in rs))
    if results["dynamic batching"] != results["one at a time"]:
        strip = [
            [[(s["start"], s["end"], s["type"]) for s in t["spans"]] for t in r]
            for r in results["one at a time"]
        ]
        other = [
            [[(s["start"], s["end"], s["type"]) for s in t["spans"]] for t in r]
            for r in results["dynamic batching"]
        ]
        if strip != other:
            raise SystemExit("the two servers gave different entities")
    n_chars = sum(len(t) for b in bodies for t in b["texts"])
    print(
        f"{args.requests} requests x {k} texts ({n_chars / (args.requests * k):.0f} chars/text avg), "
        f"{args.clients} concurrent {args.client} clients, {args.threads} server threads, model {args.model}"
    )
    print(f"{'server':<18}{'requests/s':>12}{'texts/s':>10}{'texts/batch':>13}")
    for name, (rps, tps, per_batch) in rows.items():
        print(f"{name:<18}{rps:>12.1f}{tps:>10.1f}{per_batch:>13.1f}")
    print(
        f"ratio (dynamic / one at a time): {rows['dynamic batching'][0] / rows['one at a time'][0]:.2f}x"
    )
    for name, rs in runs.items():
        print(f"  {name}, requests/s per round: {', '.join(f'{r[0]:.1f}' for r in rs)}")


if __name__ == "__main__":
    main()
