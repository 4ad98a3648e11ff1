#!/usr/bin/env python3
"""Job API latency, measured in one run against one server started here (with
livy.rsc.jars, the jars hack/setup.sh fetched):

  * Livy's Java client (livy-client-http, unchanged; hack/jobapi/java-examples.sh
    bench): it creates the session (POST /sessions/ with only conf), uploads
    jobs.jar, waits for the session to be idle, warms up, then times N
    submit(job).get() round trips of a job that returns a constant, the client
    polling the job every 1-2 ms (its documented livy.client.http.job.initial-
    and max-poll-interval), p50/p99 (target p50 <= 15 ms); and 20 with the
    client's default polling (100 ms first, then doubling) for reference;
  * the same work as a statement on the same session: POST /statements
    {"code": "1+1", "kind": "spark"}, then GET until `available`, over one
    keep-alive connection, N times, p50/p99;
  * the ratio job / statement.

Usage: hack/bench/jobs.sh [N]
"""
import json, os, statistics, subprocess, sys, tempfile, time

from benchlib import ROOT, Client, start_server, wait_state

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
PORT = 18994


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def statement(c, sid):
    t = time.perf_counter()
    code, body = c.request("POST", f"/sessions/{sid}/statements", {"code": "1+1", "kind": "spark"})
    assert code == 201, (code, body)
    st = json.loads(body)
    while st["state"] not in ("available", "error", "cancelled"):
        st = c.call("GET", f"/sessions/{sid}/statements/{st['id']}")
    assert st["state"] == "available" and st["output"]["status"] == "ok", st
    return (time.perf_counter() - t) * 1000


def main():
    jars = subprocess.run([os.path.join(ROOT, "hack", "jobapi", "jobapi.sh"), "rsc", "--cached"],
                          check=True, capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="livy-bench-")
    server = start_server(work, "jobs", PORT, [f"livy.rsc.jars={jars}"],
                          log=os.path.join(work, "server.log"))
    sid = None
    try:
        out = subprocess.run([os.path.join(ROOT, "hack", "jobapi", "java-examples.sh"),
                              f"http://127.0.0.1:{PORT}", "bench", str(N)],
                             capture_output=True, text=True, timeout=900)
        lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        figures = {l["bench"]: l for l in lines}
        sid = figures.get("session", {}).get("id")
        if out.returncode != 0 or "job" not in figures:
            sys.exit(f"the Java client failed (rc {out.returncode}):\n{out.stdout}\n{out.stderr}"
                     f"\nserver log: {work}/server.log")
        c = Client(PORT)
        wait_state(c, sid, "idle")
        for _ in range(10):  # the spark interpreter's first statements compile slowly
            statement(c, sid)
        stmts = [statement(c, sid) for _ in range(N)]
    finally:
        if sid is not None:  # a session's driver outlives the server: end it first
            Client(PORT).request("DELETE", f"/sessions/{sid}")
        server.terminate()
        server.wait()

    job, plain = figures["job"], figures.get("job-default-poll")
    s50, s99 = statistics.median(stmts), pct(stmts, 0.99)
    print(f"Java client submit(job).get(), trivial job, {job['n']} on a warm session "
          f"(client polls from {job['initial_poll']}, at most every {job['max_poll']}):")
    print(f"  p50 {job['p50_ms']:.2f} ms, p99 {job['p99_ms']:.2f} ms, mean {job['mean_ms']:.2f} ms"
          f"   (target p50 <= 15 ms)")
    if plain:
        print(f"  with the client's default polling (100 ms first), {plain['n']}: "
              f"p50 {plain['p50_ms']:.2f} ms, p99 {plain['p99_ms']:.2f} ms")
    print(f"statement 1+1 (spark), POST then GET until available, {len(stmts)}: "
          f"p50 {s50:.2f} ms, p99 {s99:.2f} ms")
    print(f"ratio job / statement: p50 {job['p50_ms'] / s50:.2f}, p99 {job['p99_ms'] / s99:.2f}")


if __name__ == "__main__":
    main()
