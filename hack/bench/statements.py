#!/usr/bin/env python3
"""Statement latency, measured in one run against two servers started here:

  A: livy.server.statement.sync-wait at its default;
  B: livy.server.statement.sync-wait=0 (Livy's exact behaviour: POST answers `waiting`).

Each has one `pyspark` session (other kinds run in it by statement `kind`). Printed:
  * pylivy's LivySession.run("1+1"), the real client unchanged, p50/p90 on A and on B,
    interleaved in rounds (target on A: p50 <= 10 ms);
  * the tight-poll round trip on B: POST, then GET until `available` over one
    keep-alive connection, p50/p99 (target p50 <= 3 ms);
  * POST -> available of simple statements per kind (python `1+1`, scala `1+1`,
    sql `SELECT 1`) on B: what a sync-wait default must cover.

Usage: hack/bench/statements.sh [statements per round] [rounds]
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, time

from benchlib import Client, idle_session, start_server

from livy import LivySession

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 4



def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def pylivy_runs(port, sid, n):
    times = []
    # Not as a context manager: its exit deletes the session.
    s = LivySession(f"http://127.0.0.1:{port}", sid, echo=False)
    for _ in range(n):
        t = time.perf_counter()
        out = s.run("1+1")
        times.append((time.perf_counter() - t) * 1000)
        assert out.text == "2", out
    return times


def round_trip(c, sid, code, kind):
    t = time.perf_counter()
    st = c.call("POST", f"/sessions/{sid}/statements", {"code": code, "kind": kind})
    while st["state"] not in ("available", "cancelled"):
        st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
    assert st["output"]["status"] == "ok", st
    return (time.perf_counter() - t) * 1000


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    a = start_server(work, "a", 18995, [])
    b = start_server(work, "b", 18996, ["livy.server.statement.sync-wait=0"])
    try:
        ca, cb = Client(18995), Client(18996)
        sa, sb = idle_session(ca), idle_session(cb)
        for c, sid in ((ca, sa), (cb, sb)):
            for kind in ("pyspark", "spark", "sql"):  # warm every interpreter
                round_trip(c, sid, "1+1" if kind != "sql" else "SELECT 1", kind)
        on_a, on_b = [], []
        for r in range(ROUNDS):
            on_a += pylivy_runs(18995, sa, N)
            on_b += pylivy_runs(18996, sb, N)
            print(f"round {r + 1}: pylivy run p50 default {statistics.median(on_a):.2f} ms, "
                  f"sync-wait=0 {statistics.median(on_b):.2f} ms", flush=True)
        trips = [round_trip(cb, sb, "1+1", "pyspark") for _ in range(200)]
        kinds = {}
        for kind, code in (("pyspark", "1+1"), ("spark", "1+1"), ("sql", "SELECT 1")):
            kinds[kind] = [round_trip(cb, sb, code, kind) for _ in range(30)]
        for c, sid in ((ca, sa), (cb, sb)):
            c.call("DELETE", f"/sessions/{sid}")
    finally:
        for p in (a, b):
            p.terminate()
            p.wait()

    pa, pb = statistics.median(on_a), statistics.median(on_b)
    print()
    print(f"pylivy run(\"1+1\") over {len(on_a)} statements each:")
    print(f"  sync-wait default: p50 {pa:.2f} ms, p90 {pct(on_a, 0.9):.2f} ms   (target p50 <= 10 ms)")
    print(f"  sync-wait=0:       p50 {pb:.2f} ms, p90 {pct(on_b, 0.9):.2f} ms")
    print(f"  ratio default / sync-wait=0: {pa / pb:.3f}")
    print(f"tight-poll round trip (sync-wait=0), 200 x 1+1: p50 {statistics.median(trips):.2f} ms, "
          f"p99 {pct(trips, 0.99):.2f} ms   (target p50 <= 3 ms)")
    for kind, xs in kinds.items():
        print(f"POST -> available, {kind:8} simple statement: p50 {statistics.median(xs):.2f} ms, "
              f"p90 {pct(xs, 0.9):.2f} ms, max {max(xs):.2f} ms")


if __name__ == "__main__":
    main()
