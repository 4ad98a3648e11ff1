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

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "livy-server")
PYTHON = os.environ.get("PYSPARK_PYTHON", sys.executable)
BARE = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[*]").appName("bare").getOrCreate()
print("READY", flush=True)
import sys; sys.stdin.read()
"""
PORT = 18997


class Client:
    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return json.loads(r.read() or b"null")


def bare_startup(script):
    t = time.monotonic()
    p = subprocess.Popen([PYTHON, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    elapsed = time.monotonic() - t
    p.stdin.close()
    p.wait()
    assert line.startswith("READY"), line
    return elapsed


def wait_state(c, sid, want):
    while True:
        s = c.call("GET", f"/sessions/{sid}/state")["state"]
        if s == want:
            return
        if s in ("dead", "error", "killed"):
            sys.exit(f"session {sid} ended {s}")
        time.sleep(0.02)


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    script = os.path.join(work, "bare.py")
    with open(script, "w") as f:
        f.write(BARE)
    server = subprocess.Popen(
        [BIN, "--port", str(PORT), "--data-dir", os.path.join(work, "data"), "--conf", "livy.server.host=127.0.0.1",
         "--conf", "livy.rsc.launcher.port.range=0~0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                Client().call("GET", "/version")
                break
            except OSError:
                time.sleep(0.05)
        c = Client()
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
