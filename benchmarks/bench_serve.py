"""Texts/s of ``nerkit serve`` (dynamic batching, one request at a time) against offline ``nlp.pipe``.

    python benchmarks/bench_serve.py MODEL [--data FILE] [--clients 32] [--requests 1000]
        [--texts-per-request 1] [--max-batch-size 64] [--max-wait-ms 5] [--threads 2]
        [--max-tokens N] [--rounds 3] [--device cpu] [--client httpx|raw]

Three cases with the same model and threads, each in a process of its own:

- offline: one process runs every request's texts, in request order, through
  ``nlp.pipe`` (``batch_size`` 64, the batching server's ``--max-tokens``): the
  rate serving is measured against, since a server runs the same model calls
  plus HTTP;
- dynamic batching: ``nerkit serve`` with ``--max-batch-size``, ``--max-wait-ms``;
- one at a time: ``nerkit serve --max-batch-size 1 --max-wait-ms 0``, where
  every request is a model call of its own;
- with ``--bound``, offline one text per ``nlp.pipe`` call: offline nlp.pipe over it
  is what batching gains in the model alone, the ceiling of batching / one at a time
  when the server's own cost per request is the same in both servers.

The servers listen on a free loopback port; ``--clients`` concurrent HTTP
clients (httpx, or ``raw``: a minimal asyncio client) send the same
``--requests`` requests of ``--texts-per-request`` texts to both. Every answer
must be 200, and all three cases must give the same entities. ``--rounds N``
runs the three cases N times, interleaved (offline, batching, one at a time,
then again), so that a change in the machine's load falls on all three; each
ratio is taken within a round and the median over rounds is printed.

Besides texts/s (wall clock), each case's texts per CPU-second: of the offline
process, and of the server process (all its threads; the clients' CPU is not
in it). On a machine shared with other work, the wall-clock rate says how much
of the machine a case got as much as how fast it is; the CPU figure does not.
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
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import httpx

ROOT = Path(__file__).resolve().parents[1]


OFFLINE = """
import json, sys, time
import nerkit
args = json.loads(sys.argv[1])
texts = json.loads(open(args["texts"], encoding="utf8").read())
nlp = nerkit.load(args["model"], device=args["device"])
list(nlp.pipe(texts[:1]))  # warm up, as the servers are
start, cpu = time.perf_counter(), time.process_time()
if args["one_per_call"]:  # the model's own cost without batching: one text per call
    spans = [next(iter(nlp.pipe([t]))) for t in texts]
else:
    spans = list(nlp.pipe(texts, batch_size=64, max_tokens=args["max_tokens"]))
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
found = [[[s.start, s.end, s.type] for s in t] for t in spans]
print(json.dumps({"seconds": seconds, "cpu": cpu, "spans": found}))
"""


def offline(
    model: Path, threads: int, device: str, texts_file: Path, max_tokens, one_per_call=False
) -> tuple:
    """Seconds, CPU seconds and entities of ``nlp.pipe`` over the texts (all in one call, or
    ``one_per_call``), in a process of its own."""
    arg = {
        "model": str(model),
        "device": device,
        "texts": str(texts_file),
        "max_tokens": max_tokens,
        "one_per_call": one_per_call,
    }
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE, json.dumps(arg)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds"], result["cpu"], [[tuple(s) for s in t] for t in result["spans"]]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def entities(answers: List[list]) -> List[list]:
    """Each text's (start, end, type) triples, from the answers of one server."""
    return [[(s["start"], s["end"], s["type"]) for s in t["spans"]] for r in answers for t in r]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(model: Path, threads: int, *args: str) -> Tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "nerkit", "serve", str(model), "--port", str(port)]  # fmt: skip
    cmd += ["--log-level", "warning", *args]
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


def measure(args, servers: dict, bodies: List[dict], texts_file: Path) -> Tuple[dict, dict]:
    """Texts/s (and texts per batch) of each case in each round; each case's entities."""
    n_texts = sum(len(b["texts"]) for b in bodies)
    offline_cases = {"offline nlp.pipe": False}
    if args.bound:
        offline_cases["offline 1 per call"] = True
    runs = {name: [] for name in (*offline_cases, *servers)}
    found = {}
    for _ in range(args.rounds):  # the cases interleaved: load changes fall on all of them
        for name, one_per_call in offline_cases.items():
            seconds, cpu, found[name] = offline(
                args.model, args.threads, args.device, texts_file, args.max_tokens, one_per_call
            )
            runs[name].append((n_texts / seconds, None, n_texts / cpu))
        for name, opts in servers.items():
            proc, url = start(args.model, args.threads, "--device", args.device, *opts)
            try:
                cpu = cpu_seconds(proc.pid)
                seconds, answers = asyncio.run(
                    (load_raw if args.client == "raw" else load)(url, bodies, args.clients)
                )
                cpu = cpu_seconds(proc.pid) - cpu  # (the warm-up request is in it)
                health = httpx.get(url + "/health").json()
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait()
            found[name] = entities(answers)
            per_batch = health["texts"] / max(health["batches"], 1)
            runs[name].append((n_texts / seconds, per_batch, n_texts / cpu))
    return runs, found


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
        "--rounds", type=int, default=1, help="run the three cases this many times, interleaved"
    )
    ap.add_argument(
        "--bound",
        action="store_true",
        help="also offline nlp.pipe one text per call: offline all / one per call is the most "
        "batching can gain in the model itself",
    )
    args = ap.parse_args()
    if not args.data.exists():
        sample = ROOT / "projects/quickstart/corpus/test.json"
        print(f"# --data {args.data} not found: the quickstart's sample texts ({sample}) instead")
        args.data = sample
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
    all_texts = [t for b in bodies for t in b["texts"]]
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(all_texts, ensure_ascii=False), encoding="utf8")
        runs, found = measure(args, servers, bodies, texts_file)
    names = list(runs)
    for name in names[1:]:
        if found[name] != found["offline nlp.pipe"]:
            raise SystemExit(f"{name} gave other entities than offline nlp.pipe")
    n_chars = sum(map(len, all_texts))
    print(
        f"{args.requests} requests x {k} texts ({n_chars / len(all_texts):.0f} chars/text avg), "
        f"{args.clients} concurrent {args.client} clients, {args.threads} threads, "
        f"{args.rounds} rounds, model {args.model}"
    )
    head = f"{'case':<18}{'texts/s':>10}{'requests/s':>12}{'texts/batch':>13}{'texts/CPU-s':>13}"
    print(f"{head}   per round (texts/s)")
    for name, rs in runs.items():
        tps = statistics.median(r[0] for r in rs)
        per_batch = "" if rs[0][1] is None else f"{statistics.median(r[1] for r in rs):.1f}"
        per_cpu = statistics.median(r[2] for r in rs)
        rounds = ", ".join(f"{r[0]:.1f}" for r in rs)
        print(f"{name:<18}{tps:>10.1f}{tps / k:>12.1f}{per_batch:>13}{per_cpu:>13.1f}   {rounds}")

    def ratio(a: str, b: str, of: int) -> str:
        per_round = [x[of] / y[of] for x, y in zip(runs[a], runs[b], strict=True)]
        return f"{statistics.median(per_round):.2f}x (rounds {', '.join(f'{r:.2f}' for r in per_round)})"

    pairs = [("dynamic batching", "one at a time"), ("dynamic batching", "offline nlp.pipe")]
    if args.bound:
        pairs += [
            ("offline nlp.pipe", "offline 1 per call"),
            ("one at a time", "offline 1 per call"),
        ]
    for a, b in pairs:
        print(f"{a} / {b}: texts/s {ratio(a, b, 0)}; texts/CPU-s {ratio(a, b, 2)}")


if __name__ == "__main__":
    main()
