#!/usr/bin/env python3
"""Interactive session benchmark (stdlib only), measured in one run:

  * startup: POST /sessions {"kind":"pyspark"} -> state idle, against a bare
    Python script that builds a SparkSession on the same master and prints
    READY (interleaved; median of N each; target ratio <= 1.10);
  * round trip: 200 `1+1` statements, POST -> `available` (polled over a
    keep-alive connection), p50 and p99 (target p50 <= 10 ms);
  * the cost of the sandbox: the same startup on a second server with
    `livy.server.launch.isolation=none`, interleaved (target sandboxed /
    unsandboxed <= 1.10).

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
    open_server = start_server(work, "data-open", PORT + 1, ["livy.server.launch.isolation=none"])
    try:
        c = Client(PORT, timeout=120)
        o = Client(PORT + 1, timeout=120)

        def startup(client, keep=False):
            t = time.monotonic()
            s = client.call("POST", "/sessions", {"kind": "pyspark"})
            wait_state(client, s["id"], "idle")
            took = time.monotonic() - t
            if not keep:
                client.call("DELETE", f"/sessions/{s['id']}")
            return took, s["id"]

        # Warm-up: the first session compiles the driver (cached afterwards).
        startup(c)
        startup(o)

        bare, served, unsandboxed = [], [], []
        for i in range(RUNS):
            bare.append(bare_startup(script))
            unsandboxed.append(startup(o)[0])
            took, sid = startup(c, keep=i + 1 == RUNS)
            served.append(took)
            print(f"run {i + 1}: bare SparkSession {bare[-1]:.2f}s, POST /sessions -> idle {served[-1]:.2f}s"
                  f" (unsandboxed {unsandboxed[-1]:.2f}s)", flush=True)

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
        for p in (server, open_server):
            p.terminate()
            p.wait()

    b, s = statistics.median(bare), statistics.median(served)
    u = statistics.median(unsandboxed)
    trips.sort()
    p50, p99 = trips[len(trips) // 2], trips[int(len(trips) * 0.99) - 1]
    print()
    print(f"pyspark startup (median of {RUNS}): POST -> idle {s:.3f}s; bare SparkSession script {b:.3f}s")
    print(f"ratio livy-server / bare: {s / b:.3f}   (target <= 1.10)")
    print(f"sandbox cost: POST -> idle sandboxed / unsandboxed ({u:.3f}s): {s / u:.3f}   (target <= 1.10)")
    print(f"1+1 round trip over 200 statements: p50 {p50:.2f} ms, p99 {p99:.2f} ms   (target p50 <= 10 ms)")


if __name__ == "__main__":
    main()
