#!/usr/bin/env python3
"""Warm pool benchmark (stdlib only), one run, local Spark; medians of N.

Against a bare PySpark `SparkSession.builder.getOrCreate()` script measured
in the same run:
  * cold POST /sessions {"kind": "pyspark"} -> idle (a request with a conf
    of its own, so it cannot take a pooled driver);
  * pooled POST /sessions -> idle (the pool refilled before each run);
and `spark.range(1000).count()` as the first statement of the pooled
session, against the same first statement of the cold one.

Usage: hack/bench/pool.sh [runs]
"""
import http.client, json, os, statistics, sys, tempfile, time

from benchlib import BARE, Client, bare_startup, start_server, wait_state
from cold import FIRST, run, wait_archive

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
PORT = 18995


def pool_ready(c):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    return 'livy_session_pool_drivers{ready="true"} 1' in text.splitlines()


def wait_pool(c):
    t = time.monotonic()
    while not pool_ready(c):
        if time.monotonic() - t > 600:
            sys.exit("the pool never became ready")
        time.sleep(0.2)


def session(c, body):
    t = time.monotonic()
    s = c.call("POST", "/sessions", body)
    wait_state(c, s["id"], "idle")
    start = time.monotonic() - t
    first = run(c, s["id"], FIRST)
    pooled = c.call("GET", f"/sessions/{s['id']}").get("fromPool")
    c.call("DELETE", f"/sessions/{s['id']}")
    return start, first, pooled


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    script = os.path.join(work, "bare.py")
    with open(script, "w") as f:
        f.write(BARE)
    server = start_server(work, "data", PORT, ["livy.server.session.pool.size=1"],
                          log=os.path.join(work, "server.log"))
    cold_body = {"kind": "pyspark", "conf": {"spark.livy.bench.cold": "1"}}
    try:
        c = Client(PORT, timeout=300)
        session(c, cold_body)  # waits for the driver build
        if not wait_archive(work):
            print("no class-data archive: cold sessions start without it")
        bare, cold, pooled = [], [], []
        for i in range(RUNS):
            # The pool refills after each adoption: each measurement starts
            # once it is full, so no refill competes with it for the CPU.
            wait_pool(c)
            bare.append(bare_startup(script))
            cold.append(session(c, cold_body))
            wait_pool(c)
            pooled.append(session(c, {"kind": "pyspark"}))
            assert pooled[-1][2] is True, pooled[-1]
            print(f"run {i + 1}: bare {bare[-1]:.2f}s, cold {cold[-1][0]:.2f}s (first count {cold[-1][1]:.3f}s), "
                  f"pooled {pooled[-1][0]:.3f}s (first count {pooled[-1][1]:.3f}s)", flush=True)
    finally:
        server.terminate()
        server.wait()

    b = statistics.median(bare)
    cs, cf = statistics.median(x[0] for x in cold), statistics.median(x[1] for x in cold)
    ps, pf = statistics.median(x[0] for x in pooled), statistics.median(x[1] for x in pooled)
    print()
    print(f"bare PySpark getOrCreate() (median of {RUNS}): {b:.3f}s")
    print(f"cold   POST /sessions -> idle {cs:.3f}s   ratio to bare {cs / b:.3f}   (target <= 0.8)")
    print(f"pooled POST /sessions -> idle {ps:.3f}s   ratio to bare {ps / b:.3f}   (target <= 0.05)")
    print(f"first {FIRST}: pooled {pf:.3f}s vs cold {cf:.3f}s   ratio {pf / cf:.3f}   (target <= 0.15)")


if __name__ == "__main__":
    main()
