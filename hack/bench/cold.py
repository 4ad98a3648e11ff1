#!/usr/bin/env python3
"""Cold session start benchmark (stdlib only), one run, local Spark.

Every figure is a ratio to a bare PySpark script measured in the same run,
interleaved with the sessions (median of N each):

  * bare: `SparkSession.builder.getOrCreate()` in a fresh Python, to ready;
  * POST /sessions {"kind": "pyspark"} -> idle, with the server's default
    driver JVM options, and with each candidate option set by hand (the
    request's spark.driver.extraJavaOptions, which turns the defaults off);
  * in each such session: the first `spark.range(1000).count()` (JIT
    warm-up), and a CPU-heavy aggregation (what a JIT option costs the
    executors, which run inside the driver JVM in local mode).

Usage: hack/bench/cold.sh [runs]
"""
import glob, os, statistics, subprocess, sys, tempfile, time

from benchlib import BARE, Client, bare_startup, start_server, wait_state

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
PORT = 18996
FIRST = "spark.range(1000).count()"
HEAVY = "spark.range(0, 30000000, numPartitions=2).selectExpr('sum(id * 7 % 13)').collect()"

# name -> spark.driver.extraJavaOptions (None: the server's defaults).
VARIANTS = [
    ("server defaults", None),
    ("no options", "-Dlivy.bench=none"),
    ("C1 only", "-XX:TieredStopAtLevel=1"),
    ("SerialGC", "-XX:+UseSerialGC"),
]


def wait_archive(work):
    """The class-data archive the server under work/data builds after its
    driver (None if it never comes), and when it came."""
    t = time.monotonic()
    while time.monotonic() - t < 600:
        found = glob.glob(os.path.join(work, "data", "driver", "*", "driver.jsa"))
        if found:
            print(f"class-data archive ready {time.monotonic() - t:.1f}s after the first session "
                  f"({os.path.getsize(found[0]) / 1e6:.0f} MB)", flush=True)
            return found[0]
        time.sleep(0.5)
    return None


def run(c, sid, code):
    """Seconds from POST to `available`."""
    t = time.monotonic()
    st = c.call("POST", f"/sessions/{sid}/statements", {"code": code})
    while st["state"] not in ("available", "error", "cancelled"):
        time.sleep(0.01)
        st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
    assert st["output"]["status"] == "ok", st
    return time.monotonic() - t


def session(c, java_options):
    """(POST -> idle, first count, heavy statement) in seconds; deletes it."""
    body = {"kind": "pyspark"}
    if java_options is not None:
        body["conf"] = {"spark.driver.extraJavaOptions": java_options}
    t = time.monotonic()
    s = c.call("POST", "/sessions", body)
    wait_state(c, s["id"], "idle")
    start = time.monotonic() - t
    first = run(c, s["id"], FIRST)
    heavy = run(c, s["id"], HEAVY)
    c.call("DELETE", f"/sessions/{s['id']}")
    return start, first, heavy


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-")
    script = os.path.join(work, "bare.py")
    with open(script, "w") as f:
        f.write(BARE)
    server = start_server(work, "data", PORT, [], log=os.path.join(work, "server.log"))
    try:
        c = Client(PORT, timeout=300)
        # Warm-up: the first session waits for the driver build; then the
        # class-data archive, built in the background, is waited for.
        session(c, None)
        archive = wait_archive(work)
        if archive:
            cds = f"-XX:SharedArchiveFile={archive}"
            VARIANTS.append(("archive only", cds))
            VARIANTS.append(("archive + C1 + Serial", f"{cds} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"))
        else:
            print("no class-data archive (livy.rsc.driver.class-data-sharing off, or its build failed)")
        bare = []
        got = {name: [] for name, _ in VARIANTS}
        for i in range(RUNS):
            bare.append(bare_startup(script))
            line = [f"run {i + 1}: bare {bare[-1]:.2f}s"]
            for name, opts in VARIANTS:
                got[name].append(session(c, opts))
                line.append(f"{name} {got[name][-1][0]:.2f}s")
            print(", ".join(line), flush=True)
    finally:
        server.terminate()
        server.wait()

    b = statistics.median(bare)
    print()
    print(f"bare PySpark getOrCreate() (median of {RUNS}): {b:.3f}s")
    print(f"{'driver JVM options':<22} {'POST->idle':>11} {'ratio':>6}   {'first count':>11}   {'heavy query':>11}")
    base_heavy = statistics.median(h for _, _, h in got["no options"])
    for name, _ in VARIANTS:
        start = statistics.median(s for s, _, _ in got[name])
        first = statistics.median(f for _, f, _ in got[name])
        heavy = statistics.median(h for _, _, h in got[name])
        print(f"{name:<22} {start:>10.3f}s {start / b:>6.3f}   {first:>10.3f}s   {heavy:>10.3f}s "
              f"({heavy / base_heavy:.2f}x of no options)")
    print("target: cold POST /sessions -> idle <= 0.8x bare")


if __name__ == "__main__":
    main()
