"""``nerkit serve`` under faults: malformed requests, clients that go away, SIGTERM under load.

    python benchmarks/serve_faults.py MODEL [--data FILE] [--good 1000] [--bad-share 0.1]
        [--disconnects 100] [--clients 32] [--drain-requests 600] [--threads 1]

Starts ``nerkit serve MODEL`` on a free loopback port (127.0.0.1 only) and runs two
phases, each a bounded list of requests shared by ``--clients`` concurrent
keep-alive clients (a minimal asyncio HTTP/1.1 client: the faults are in the bytes):

1. faults: ``--good`` requests of 1-4 texts, ``--bad-share`` of as many malformed
   ones (truncated JSON, bytes that are not UTF-8, wrong types, unknown fields,
   too many texts, too large a body, a request line that is not HTTP, ...) and
   ``--disconnects`` clients that go away mid-request (half a body, half the
   headers, or a whole request and then a close or a reset without reading the
   answer), all shuffled together. Every good request must be answered 200 with
   the entities ``nlp.pipe`` finds in the script's own process; every malformed
   one a 4xx; the server must answer ``/health`` afterwards.
2. drain: ``--drain-requests`` good requests; after a fifth of them are answered
   the server gets SIGTERM. Every answer that comes must be 200 and correct; a
   request may only go unanswered by a closed connection (the server no longer
   reads new requests once it is stopping); the server must exit 0.

Prints the counts of each phase; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_serve beside this file

from bench_serve import ROOT, start  # noqa: E402


def post(body: bytes, path: str = "/v1/ner") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def malformed(rng: random.Random) -> List[Tuple[str, bytes]]:
    """One request per kind of mistake: (kind, the bytes sent)."""
    good = json.dumps({"texts": ["患者发热三天"]}, ensure_ascii=False).encode()
    return [
        ("truncated JSON", post(good[: rng.randint(1, len(good) - 1)])),
        ("not UTF-8", post(b'{"text": "\xff\xfe\xfa"}')),
        ("empty body", post(b"")),
        ("text is a number", post(b'{"text": 5}')),
        ("a text is null", post(b'{"texts": ["a", null]}')),
        ("unknown field", post(b'{"txt": "typo"}')),
        ("text and texts", post(b'{"text": "a", "texts": ["b"]}')),
        ("a list, not an object", post(b'["a"]')),
        ("too many texts", post(json.dumps({"texts": ["a"] * 300}).encode())),
        ("too large a body", post(json.dumps({"text": "字" * 1_000_000}).encode())),
        ("unknown path", post(good, "/v1/nerr")),
        ("GET on the endpoint", b"GET /v1/ner HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("not HTTP", b"HELLO /v1/ner FTP/9\r\n\r\n"),
    ]


@dataclass
class Tally:
    """What the clients saw."""

    statuses: Counter = field(default_factory=Counter)  # (case, status)
    wrong: List[str] = field(default_factory=list)  # good requests answered with other entities
    unanswered: int = 0  # sent, and the connection closed before an answer
    refused: int = 0  # not sent: the connection could not be opened (the server is gone)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> Tuple[Optional[int], bytes, bool]:
    """Send one request, read its answer: (status or None if the connection closed first,
    body, whether the server keeps the connection)."""
    writer.write(data)
    try:
        line = await reader.readline()
        if not line:
            return None, b"", False
        status, length, keep = int(line.split()[1]), 0, True
        while (h := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        return status, await reader.readexactly(length), keep
    except (ConnectionError, asyncio.IncompleteReadError):
        return None, b"", False


async def go_away(port: int, kind: str, data: bytes) -> None:
    """A client that leaves mid-request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if kind == "half the body":
        writer.write(data[: len(data) - max(1, (len(data) - data.index(b"\r\n\r\n")) // 2)])
    elif kind == "half the headers":
        writer.write(data[: data.index(b"\r\n\r\n") // 2])
    else:  # a whole request, then away without reading the answer
        writer.write(data)
    await writer.drain()
    if kind == "reset":  # RST instead of FIN
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


DISCONNECTS = ("half the body", "half the headers", "close without reading", "reset")


async def run_load(
    port: int,
    actions: List[Tuple[str, object]],
    bodies: List[bytes],
    expected: List[list],
    clients: int,
    on_answer=None,
) -> Tally:
    """Send every action from ``clients`` keep-alive connections; stop a client at its first
    connection that cannot be opened (the server is gone)."""
    tally = Tally()
    queue = list(reversed(actions))

    async def client() -> None:
        conn = None
        while queue:
            case, what = queue.pop()
            if case == "disconnect":
                kind, i = what
                await go_away(port, kind, bodies[i])
                continue
            if conn is None:
                try:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    tally.refused += 1 + sum(1 for c, _ in queue if c != "disconnect")
                    queue.clear()
                    return
            data = bodies[what] if case == "good" else what[1]
            status, body, keep = await exchange(*conn, data)
            if status is None:
                tally.unanswered += 1
            else:
                tally.statuses[case, status] += 1
                if case == "good" and status == 200:
                    got = [
                        [(s["start"], s["end"], s["type"]) for s in r["spans"]]
                        for r in json.loads(body)["results"]
                    ]
                    if got != expected[what]:
                        tally.wrong.append(f"request {what}: {got} != {expected[what]}")
                if on_answer is not None:
                    on_answer()
            if not keep:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return tally


def fault_actions(rng: random.Random, good: List[int], bad_share: float, disconnects: int):
    """Good requests (indices), malformed ones and disconnects, shuffled together."""
    kinds = malformed(rng)
    actions: List[Tuple[str, object]] = [("good", i) for i in good]
    actions += [("bad", kinds[j % len(kinds)]) for j in range(round(len(good) * bad_share))]
    actions += [("disconnect", (DISCONNECTS[j % 4], rng.choice(good))) for j in range(disconnects)]
    rng.shuffle(actions)
    return actions


def check_faults(tally: Tally, n_good: int, n_bad: int) -> List[str]:
    """What went wrong in phase 1 (nothing, if the list is empty)."""
    problems = list(tally.wrong)
    good_ok = tally.statuses["good", 200]
    if good_ok != n_good:
        problems.append(f"{good_ok} of {n_good} good requests answered 200")
    bad_4xx = sum(
        n for (case, status), n in tally.statuses.items() if case == "bad" and 400 <= status < 500
    )
    if bad_4xx != n_bad:
        problems.append(f"{bad_4xx} of {n_bad} malformed requests answered 4xx")
    if tally.unanswered or tally.refused:
        problems.append(f"{tally.unanswered + tally.refused} requests unanswered")
    return problems


def texts_and_bodies(data: Path, n: int, seed: int = 0) -> Tuple[List[List[str]], List[bytes]]:
    texts = [r["text"] for r in json.loads(data.read_text(encoding="utf8"))]
    rng = random.Random(seed)
    requests = [rng.sample(texts, rng.randint(1, 4)) for _ in range(n)]
    return requests, [post(json.dumps({"texts": t}, ensure_ascii=False).encode()) for t in requests]


def expected_entities(nlp, requests: List[List[str]]) -> List[list]:
    """Each request's (start, end, type) triples per text, from one ``nlp.pipe`` call."""
    found = iter(nlp.pipe([t for r in requests for t in r]))
    return [[[(s.start, s.end, s.type) for s in next(found)] for _ in r] for r in requests]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cmeee/CMeEE_test.json")
    ap.add_argument("--good", type=int, default=1000)
    ap.add_argument("--bad-share", type=float, default=0.1, help="malformed requests per good one")
    ap.add_argument("--disconnects", type=int, default=100)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--drain-requests", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not args.data.exists():
        args.data = ROOT / "projects/quickstart/corpus/test.json"
    import torch

    import nerkit

    requests, bodies = texts_and_bodies(args.data, args.good + args.drain_requests)
    torch.set_num_threads(args.threads)  # (more threads than cores that are free only spin)
    nlp = nerkit.load(args.model, device="cpu")
    expected = expected_entities(nlp, requests)
    rng = random.Random(1)
    proc, url = start(args.model, args.threads, "--device", "cpu")
    port = int(url.rsplit(":", 1)[1])
    problems: List[str] = []
    try:
        actions = fault_actions(rng, list(range(args.good)), args.bad_share, args.disconnects)
        n_bad = sum(1 for c, _ in actions if c == "bad")
        t0 = time.perf_counter()
        tally = asyncio.run(run_load(port, actions, bodies, expected, args.clients))
        seconds = time.perf_counter() - t0
        problems += check_faults(tally, args.good, n_bad)
        print(
            f"faults: {args.good} good, {n_bad} malformed, {args.disconnects} disconnects, "
            f"{args.clients} clients, {seconds:.1f} s"
        )
        for (case, status), n in sorted(tally.statuses.items()):
            print(f"  {case:5} -> {status}: {n}")
        print(f"  wrong answers: {len(tally.wrong)}, unanswered: {tally.unanswered}")
        drain = drain_phase(proc, port, bodies, expected, args)
        problems += drain
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems[:20]))
        raise SystemExit(1)
    print("all checks passed")


def drain_phase(proc, port: int, bodies: List[bytes], expected: List[list], args) -> List[str]:
    """Phase 2: SIGTERM after a fifth of the answers; the server must answer what it read,
    correctly, and exit 0."""
    first = args.good
    actions = [("good", i) for i in range(first, first + args.drain_requests)]
    before = args.drain_requests // 5
    answered = 0

    def on_answer() -> None:
        nonlocal answered
        answered += 1
        if answered == before:
            proc.send_signal(signal.SIGTERM)

    tally = asyncio.run(run_load(port, actions, bodies, expected, args.clients, on_answer))
    code = proc.wait(timeout=120)
    ok = tally.statuses["good", 200]
    print(
        f"drain: {args.drain_requests} requests, SIGTERM after {before} answers: "
        f"{ok} answered 200 ({ok - before} after the signal), "
        f"{len(tally.wrong)} wrong, {tally.unanswered} closed unanswered (sent on a kept-alive "
        f"connection as the server stopped), {tally.refused} refused, exit code {code}"
    )
    problems = list(tally.wrong)
    others = {k: n for k, n in tally.statuses.items() if k != ("good", 200)}
    if others:
        problems.append(f"drain: answers other than 200: {others}")
    if code != 0:
        problems.append(f"drain: the server exited {code}, not 0")
    if ok + tally.unanswered + tally.refused != args.drain_requests:
        problems.append("drain: requests neither answered nor refused")
    return problems


if __name__ == "__main__":
    main()
