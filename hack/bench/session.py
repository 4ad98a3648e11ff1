#!/usr/bin/env python3
"""Interactive session benchmark (stdlib only), measured in one run:

  * startup: POST /sessions {"kind":"pyspark"} -> state idle, against a bare
    Python script that builds a SparkSession on the same master and prints
    READY (interleaved; median of N each; target ratio <= 1.10);
  * round trip: 200 `1+1` statements, POST -> `available` (polled over a
    keep-alive connection), p50 and p99 (target p50 <= 10 ms).

Usage: hack/bench/session.sh [runs]
"""
import http.client, json, os, statistics, subprocess, sys, tempfile, time

from benchlib import BARE, Client, bare_startup, start_server, wait_state

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
PORT = 18997



def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    script = os.path.join(work, "bare.py")
    with open(script, "w") as f:
        f.write(BARE)
    server = start_server(work, "data", PORT, [])
    try:
        c = Client(PORT, timeout=120)
        # Warm-up: the first session compiles the driver (cached afterwards).
        s = c.call("POST", "/sessions", {"kind": "pyspark"})
        wait_state(c, s["id"], "idle")
        c.call("DELETE", f"/sessions/{s['id']}")

        bare, served = [], []
        for i in range(RUNS):
            bare.append(bare_startup(script))
            t = time.monotonic()
            s = c.call("POST", "/sessions", {"kind": "pyspark"})
            wait_state(c, s["id"], "idle")
            served.append(time.monotonic() - t)
            print(f"run {i + 1}: bare SparkSession {bare[-1]:.2f}s, POST /sessions -> idle {served[-1]:.2f}s", flush=True)
            if i + 1 < RUNS:
                c.call("DELETE", f"/sessions/{s['id']}")
        sid = s["id"]

        trips = []
        for _ in range(200):
            t = time.perf_counter()
            st = c.call("POST", f"/sessions/{sid}/statements", {"code": "1+1"})
            while st["state"] != "available":
                st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
            trips.append((time.perf_counter() - t) * 1000)
            assert st["output"]["data"]["text/plain"] == "2", st
        c.call("DELETE", f"/sessions/{sid}")
    finally:
        server.terminate()
        server.wait()

    b, s = statistics.median(bare), statistics.median(served)
    trips.sort()
    p50, p99 = trips[len(trips) // 2], trips[int(len(trips) * 0.99) - 1]
    print()
    print(f"pyspark startup (median of {RUNS}): POST -> idle {s:.3f}s; bare SparkSession script {b:.3f}s")
    print(f"ratio livy-server / bare: {s / b:.3f}   (target <= 1.10)")
    print(f"1+1 round trip over 200 statements: p50 {p50:.2f} ms, p99 {p99:.2f} ms   (target p50 <= 10 ms)")


if __name__ == "__main__":
    main()
