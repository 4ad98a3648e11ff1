#!/usr/bin/env python3
"""Batch overhead benchmark (stdlib only).

Measures, in one run and interleaved so machine noise hits both alike:
  * baseline: `spark-submit pi.py` run directly, wall time start -> exit;
  * server:   POST /batches -> state `success` for the same file, polled every 20 ms;
and prints the median of each and their ratio (target <= 1.03), plus the
server's resident memory when idle (target <= 30 MB).

Usage: hack/bench/batch.sh [runs]   (builds the release binary, sets up Spark)
"""
import json, os, statistics, subprocess, sys, tempfile, time, urllib.request

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "livy-server")
SPARK_SUBMIT = os.path.join(os.environ["SPARK_HOME"], "bin", "spark-submit")
PI = """
import random
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("pi").getOrCreate()
n = 100000
count = spark.sparkContext.parallelize(range(n), 2).map(lambda _: 1 if random.random() ** 2 + random.random() ** 2 < 1 else 0).reduce(lambda a, b: a + b)
print("Pi is roughly %f" % (4.0 * count / n))
spark.stop()
"""


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    pi = os.path.join(work, "pi.py")
    with open(pi, "w") as f:
        f.write(PI)
    port = 18998
    server = subprocess.Popen(
        [BIN, "--port", str(port), "--data-dir", os.path.join(work, "data"),
         "--conf", f"livy.file.local-dir-whitelist={work}", "--conf", "livy.server.host=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                http("GET", base + "/version")
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(2)
        idle_rss = rss_mb(server.pid)

        direct, served = [], []
        for i in range(RUNS):
            t = time.monotonic()
            subprocess.run([SPARK_SUBMIT, pi], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            direct.append(time.monotonic() - t)

            t = time.monotonic()
            b = http("POST", base + "/batches", {"file": pi})
            while True:
                s = http("GET", f"{base}/batches/{b['id']}/state")["state"]
                if s in ("success", "dead", "killed", "error"):
                    break
                time.sleep(0.02)
            served.append(time.monotonic() - t)
            if s != "success":
                sys.exit(f"batch {b['id']} ended {s}")
            print(f"run {i + 1}: spark-submit {direct[-1]:.2f}s, livy-server {served[-1]:.2f}s", flush=True)
        after_rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()

    d, s = statistics.median(direct), statistics.median(served)
    print()
    print(f"POST -> success (median of {RUNS}): {s:.3f}s; spark-submit directly: {d:.3f}s")
    print(f"ratio livy-server / spark-submit: {s / d:.3f}   (target <= 1.03)")
    print(f"server RSS idle: {idle_rss:.1f} MB   (target <= 30 MB); after {RUNS} batches: {after_rss:.1f} MB")


if __name__ == "__main__":
    main()
