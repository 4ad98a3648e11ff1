#!/usr/bin/env python3
"""YARN benchmark (stdlib only), against one real YARN + HDFS (Hadoop's
minicluster, hack/yarn.sh) in one run:

  * batch: POST /batches (cluster mode) -> `success`, against
    `spark-submit --master yarn --deploy-mode cluster` of the same file run
    to its exit (interleaved; median of N each; target ratio <= 1.05);
  * session: POST /sessions {"kind":"pyspark"} -> `idle` (the driver in the
    ApplicationMaster, Livy's default on YARN), against a bare Python script
    that builds a SparkSession on YARN and prints READY (target <= 1.0);
  * statement: 100 `1+1` round trips on the YARN session, p50 and p99
    (target p50 <= 10 ms);
  * RM cost: with T applications tracked at once (default 20: batches that
    wait in YARN), the ResourceManager requests the server makes per poll
    interval, counted by a proxy in front of the RM, against T for Livy's
    per-application polling.

Usage: hack/bench/yarn.sh [runs] [tracked]
"""
import http.client, http.server, os, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

from benchlib import Client, ROOT, bare_startup, start_server, wait_state

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
TRACKED = int(sys.argv[2]) if len(sys.argv) > 2 else 20
PORT = 18990
POLL = 2.0  # livy.server.yarn.poll-interval, seconds
SMALL = {"driverMemory": "512m", "executorMemory": "512m", "numExecutors": 1, "executorCores": 1}
PI = """
import random
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("pi").getOrCreate()
n = 100000
count = spark.sparkContext.parallelize(range(n), 2).map(lambda _: 1 if random.random() ** 2 + random.random() ** 2 < 1 else 0).reduce(lambda a, b: a + b)
print("Pi is roughly %f" % (4.0 * count / n))
spark.stop()
"""
# An application that holds one container (its ApplicationMaster, no
# executors) and waits: YARN runs as many as fit and keeps the rest ACCEPTED,
# all of them tracked by the server.
WAIT = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("wait").getOrCreate()
time.sleep(600)
"""
BARE = """
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("yarn").appName("bare")
         .config("spark.driver.memory", "512m").config("spark.executor.memory", "512m")
         .config("spark.executor.instances", "1").config("spark.executor.cores", "1").getOrCreate())
print("READY", flush=True)
import sys; sys.stdin.read()
"""


class Counter(http.server.BaseHTTPRequestHandler):
    """Forwards GETs to the RM and counts them by path."""

    rm = ""
    counts = {}
    lock = threading.Lock()

    def do_GET(self):
        path = self.path.split("?")[0]
        with Counter.lock:
            Counter.counts[path] = Counter.counts.get(path, 0) + 1
        try:
            with urllib.request.urlopen(Counter.rm + self.path, timeout=30) as r:
                body, code, kind = r.read(), r.status, r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            body, code, kind = e.read(), e.code, e.headers.get("Content-Type", "text/plain")
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        req = urllib.request.Request(Counter.rm + self.path, data=data, method="PUT",
                                     headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body, code = r.read(), r.status
        except urllib.error.HTTPError as e:
            body, code = e.read(), e.code
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def lists():
    """(application lists, every request) the server made of the RM so far."""
    with Counter.lock:
        apps = sum(n for p, n in Counter.counts.items() if p.rstrip("/") == "/ws/v1/cluster/apps")
        return apps, sum(Counter.counts.values())


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-yarn-")
    cluster = os.path.join(work, "yarn")
    subprocess.run(["bash", os.path.join(ROOT, "hack", "yarn.sh"), "start", cluster], check=True,
                   stdout=subprocess.DEVNULL)
    env = dict(line.split("=", 1) for line in open(os.path.join(cluster, "env")).read().split())
    os.environ["HADOOP_CONF_DIR"] = env["HADOOP_CONF_DIR"]
    os.environ["SPARK_CONF_DIR"] = env["SPARK_CONF_DIR"]
    Counter.rm = env["YARN_RM_URL"]
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    pi, wait, bare = (os.path.join(work, n) for n in ("pi.py", "wait.py", "bare.py"))
    for path, text in ((pi, PI), (wait, WAIT), (bare, BARE)):
        with open(path, "w") as f:
            f.write(text)
    server = start_server(work, "data", PORT, [
        "livy.spark.master=yarn", "livy.spark.deploy-mode=cluster",
        f"livy.file.local-dir-whitelist={work}", "livy.rsc.launcher.address=127.0.0.1",
        f"livy.server.yarn.rm-address=http://127.0.0.1:{proxy.server_port}",
        f"livy.server.yarn.poll-interval={int(POLL)}s",
    ], log=os.path.join(work, "server.log"))
    spark_submit = os.path.join(os.environ["SPARK_HOME"], "bin", "spark-submit")
    submit = [spark_submit, "--master", "yarn", "--deploy-mode", "cluster", "--driver-memory", "512m",
              "--executor-memory", "512m", "--num-executors", "1", "--executor-cores", "1"]
    try:
        c = Client(PORT, timeout=300)

        def batch(file, **extra):
            body = {k: v for k, v in dict(SMALL, file=file, **extra).items() if v is not None}
            b = c.call("POST", "/batches", body)
            return b["id"]

        def finish(bid):
            while True:
                s = c.call("GET", f"/batches/{bid}/state")["state"]
                if s in ("success", "dead", "killed", "error"):
                    return s
                time.sleep(0.05)

        direct, served = [], []
        for i in range(RUNS):
            t = time.monotonic()
            subprocess.run(submit + [pi], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            direct.append(time.monotonic() - t)
            t = time.monotonic()
            s = finish(batch(pi))
            served.append(time.monotonic() - t)
            if s != "success":
                sys.exit(f"a batch ended {s}; see {work}/server.log")
            print(f"batch run {i + 1}: spark-submit {direct[-1]:.2f}s, POST -> success {served[-1]:.2f}s", flush=True)

        bare_s, session_s = [], []
        sid = None
        for i in range(RUNS):
            bare_s.append(bare_startup(bare))
            t = time.monotonic()
            s = c.call("POST", "/sessions", dict(SMALL, kind="pyspark"))
            wait_state(c, s["id"], "idle")
            session_s.append(time.monotonic() - t)
            if i + 1 < RUNS:
                c.call("DELETE", f"/sessions/{s['id']}")
            else:
                sid = s["id"]
            print(f"session run {i + 1}: bare SparkSession {bare_s[-1]:.2f}s, POST -> idle {session_s[-1]:.2f}s",
                  flush=True)

        trips = []
        for _ in range(100):
            t = time.perf_counter()
            st = c.call("POST", f"/sessions/{sid}/statements", {"code": "1+1"})
            while st["state"] != "available":
                st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
            trips.append((time.perf_counter() - t) * 1000)
            assert st["output"]["data"]["text/plain"] == "2", st
        c.call("DELETE", f"/sessions/{sid}")

        # RM cost: TRACKED applications at once, counted over a window.
        # No executor until a task asks for one (spark-submit refuses 0 instances).
        lazy = {"spark.dynamicAllocation.enabled": "true", "spark.dynamicAllocation.minExecutors": "0",
                "spark.dynamicAllocation.initialExecutors": "0",
                "spark.dynamicAllocation.shuffleTracking.enabled": "true"}
        ids = [batch(wait, numExecutors=None, conf=lazy) for _ in range(TRACKED)]
        deadline = time.monotonic() + 600
        while True:
            seen = [c.call("GET", f"/batches/{b}") for b in ids]
            ended = [b for b in seen if b["state"] in ("dead", "killed", "error", "success")]
            if ended:
                sys.exit(f"a tracked batch ended {ended[0]['state']}; see {work}/server.log")
            if all(b.get("appId") for b in seen):
                break
            if time.monotonic() > deadline:
                sys.exit("the tracked batches never all reached YARN")
            time.sleep(1)
        window = 10 * POLL
        (lists0, all0), t = lists(), time.monotonic()
        time.sleep(window)
        (lists1, all1), took = lists(), time.monotonic() - t
        n, total = lists1 - lists0, all1 - all0
        for b in ids:
            c.call("DELETE", f"/batches/{b}")
    finally:
        server.terminate()
        server.wait()
        proxy.shutdown()
        subprocess.run(["bash", os.path.join(ROOT, "hack", "yarn.sh"), "stop", cluster],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    d, s = statistics.median(direct), statistics.median(served)
    b, ss = statistics.median(bare_s), statistics.median(session_s)
    trips.sort()
    p50, p99 = trips[len(trips) // 2], trips[int(len(trips) * 0.99) - 1]
    intervals = took / POLL
    print()
    print(f"batch (median of {RUNS}): POST -> success {s:.2f}s; spark-submit --deploy-mode cluster {d:.2f}s")
    print(f"ratio livy-server / spark-submit: {s / d:.3f}   (target <= 1.05)")
    print(f"pyspark session (median of {RUNS}): POST -> idle {ss:.2f}s (driver in the ApplicationMaster); "
          f"bare SparkSession on YARN (client) {b:.2f}s")
    print(f"ratio livy-server / bare: {ss / b:.3f}   (target <= 1.0)")
    print(f"1+1 round trip on the YARN session over 100 statements: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
          f"   (target p50 <= 10 ms)")
    print(f"RM cost with {TRACKED} applications tracked: {n} application lists in {took:.1f}s "
          f"({n / intervals:.2f} per {POLL:.0f}s poll interval); Livy polls each application: "
          f"{TRACKED} per interval; ratio {n / intervals / TRACKED:.3f}   (target: at most 1 per interval); "
          f"every RM request in the window: {total}")


if __name__ == "__main__":
    main()
