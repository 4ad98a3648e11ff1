#!/usr/bin/env python3
"""R session benchmark (stdlib only), measured in one run on one server:

  * startup: POST /sessions {"kind":"sparkr"} -> idle against {"kind":"pyspark"} -> idle,
    interleaved, median of N each (target ratio <= 1.2);
  * round trip: 200 R `1 + 1` statements, POST -> `available` over a keep-alive
    connection, p50 and p99 (target p50 <= 20 ms), beside Python's on the same session.

Usage: hack/bench/r.sh [runs]
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, time

from benchlib import Client, start_server

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
PORT = 18994



def start(c, kind):
    t = time.monotonic()
    s = c.call("POST", "/sessions", {"kind": kind})
    while True:
        st = c.call("GET", f"/sessions/{s['id']}/state")["state"]
        if st == "idle":
            return s["id"], time.monotonic() - t
        if st in ("dead", "error", "killed"):
            sys.exit(f"{kind} session ended {st}")
        time.sleep(0.02)


def trips(c, sid, kind, code, want, n=200):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        st = c.call("POST", f"/sessions/{sid}/statements", {"code": code, "kind": kind})
        while st["state"] != "available":
            st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
        out.append((time.perf_counter() - t) * 1000)
        assert st["output"]["data"]["text/plain"] == want, st
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1]


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-r-")
    server = start_server(work, "data", PORT, [], log=os.path.join(work, "server.log"))
    try:
        c = Client(PORT, timeout=120)
        # Warm-up: the first session builds the driver (jar, R package; cached afterwards).
        sid, _ = start(c, "sparkr")
        c.call("DELETE", f"/sessions/{sid}")
        py, r = [], []
        for i in range(RUNS):
            sid, t = start(c, "pyspark")
            py.append(t)
            c.call("DELETE", f"/sessions/{sid}")
            sid, t = start(c, "sparkr")
            r.append(t)
            print(f"run {i + 1}: pyspark -> idle {py[-1]:.2f}s, sparkr -> idle {r[-1]:.2f}s", flush=True)
            if i + 1 < RUNS:
                c.call("DELETE", f"/sessions/{sid}")
        r50, r99 = trips(c, sid, "sparkr", "1 + 1", "[1] 2")
        p50, p99 = trips(c, sid, "pyspark", "1 + 1", "2")
        c.call("DELETE", f"/sessions/{sid}")
    finally:
        server.terminate()
        server.wait()
    print(f"(server log: {work}/server.log)")
    mp, mr = statistics.median(py), statistics.median(r)
    print()
    print(f"startup (median of {RUNS}): sparkr -> idle {mr:.3f}s; pyspark -> idle {mp:.3f}s")
    print(f"ratio sparkr / pyspark: {mr / mp:.3f}   (target <= 1.2)")
    print(f"R 1 + 1 round trip over 200 statements: p50 {r50:.2f} ms, p99 {r99:.2f} ms   (target p50 <= 20 ms)")
    print(f"Python 1 + 1 on the same session, for scale: p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
