#!/usr/bin/env python3
"""Scale benchmark (stdlib only): what finished batch records cost the API and
the reconciler as they pile up, measured in one run against one server.

Spark is replaced by a stand-in spark-submit that exits 0 at once, so a batch
finishes within milliseconds and only the server's own costs show. A batch
whose args hold `livy-bench-sleep` stays `running` instead: 100 of those are
created first and stay for the whole run.

Finished batches (named `b-<i>`) are then created over --threads (4)
keep-alive connections in stages; at 100, 1,000 and --records finished records (plus the
100 running), once every batch has settled, it measures:
  * GET /batches?size=100 and GET /batches/{random name}: p50/p99 of 500
    requests on one connection (target: p99 <= 2 ms, flat);
  * POST /batches creates/s over the stage's last (up to) 500 creates
    (target: flat, >= 300/s at 10,000);
  * store reads per state change: the growth of the /metrics counters
    livy_store_records_read_total over livy_store_writes_total across a burst
    of 100 creates that all settle, from 1,000 on (target: O(1), the same
    count at 1,000 and 10,000); "n/a" when the server has no such metrics;
  * server CPU while nothing changes, over --idle-seconds (target < 0.5% of
    one core; the 100 running batches are still watched);
  * server RSS, and RSS per record: its growth since the first stage over the
    records added (target <= 5 KB).
Every figure is printed with its ratio against the first stage that has it
(the last stage over the first; for creates/s the first stage stands in for
"empty": the rate into a really empty store, of the running batches, is
printed as it goes). Failed requests, finished batches that did not succeed
and the server log's warnings are counted at the end. The work directory
(store, server.log) is removed unless --keep is given or something failed.

Usage: hack/bench/scale.sh [--records N] [--threads T] [--idle-seconds S] [--keep]
"""
import argparse, collections, http.client, json, os, random, shutil, signal
import socket, statistics, sys, tempfile, threading, time

from benchlib import Client, start_server

RUNNING = 100  # batches that stay running the whole run
MARKER = "livy-bench-sleep"  # in a batch's args: the stand-in stays running
SAMPLES = 500  # GET requests per latency figure
RATE_WINDOW = 500  # creates/s over at most this many last creates of a stage
BURST = 100  # creates whose store reads per state change are counted
TERMINAL = ("success", "dead", "killed", "error")
READS, WRITES = "livy_store_records_read_total", "livy_store_writes_total"
HZ = os.sysconf("SC_CLK_TCK")

STAND_IN = """#!/bin/sh
# Stand-in spark-submit of the scale bench: exits at once, unless an argument
# is the marker; then it stays running, its PID noted for the bench to end.
for a in "$@"; do
    if [ "$a" = MARKER ]; then
        echo $$ >> 'PIDS'
        exec sleep 100000
    fi
done
exit 0
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of `pid` (not its children), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return float("nan")


def create(port, threads, batches):
    """POSTs each (index, body) of `batches` over `threads` keep-alive
    connections. Returns [(answered at, index, id)] of the created batches,
    sorted by time, and a Counter of the failures."""
    todo, lock = iter(batches), threading.Lock()
    done, failed = [], collections.Counter()

    def work():
        c = Client(port)
        while True:
            with lock:
                item = next(todo, None)
            if item is None:
                return
            i, body = item
            try:
                status, raw = c.request("POST", "/batches", body)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    failed[f"POST /batches: {type(e).__name__}: {e}"] += 1
                c = Client(port)
                continue
            t = time.perf_counter()
            with lock:
                if status == 201:
                    done.append((t, i, json.loads(raw)["id"]))
                else:
                    failed[f"POST /batches: {status} {raw[:160].decode(errors='replace')}"] += 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    done.sort()
    return done, failed


def rate(done):
    """Creates/s over the last (up to) RATE_WINDOW answers."""
    k = min(RATE_WINDOW, len(done) - 1)
    if k < 1:
        return float("nan")
    return k / (done[-1][0] - done[-1 - k][0])


def wait_state(c, bid, states, timeout):
    """Polls GET /batches/{id}/state (by id: one record read) until in `states`."""
    deadline = time.monotonic() + timeout
    while True:
        st = c.call("GET", f"/batches/{bid}/state")["state"]
        if st in states:
            return st
        if time.monotonic() > deadline:
            sys.exit(f"batch {bid} still {st} after {timeout:.0f} s")
        time.sleep(0.05)


def settle(c, total, sleepers, timeout):
    """Waits until every batch but the sleepers is terminal (listing pages of
    500); returns a Counter of the states of the others and of the sleepers."""
    deadline = time.monotonic() + timeout
    while True:
        others, asleep, seen = collections.Counter(), collections.Counter(), 0
        while seen < total:
            page = c.call("GET", f"/batches?from={seen}&size=500")["sessions"]
            if not page:
                break
            for b in page:
                (asleep if b["id"] in sleepers else others)[b["state"]] += 1
            seen += len(page)
        pending = sum(n for s, n in others.items() if s not in TERMINAL)
        if seen >= total and not pending:
            return others, asleep
        if time.monotonic() > deadline:
            sys.exit(f"not settled after {timeout:.0f} s: {seen} of {total} listed, {dict(others)}")
        time.sleep(0.5)


def store_counters(c):
    """(records read, writes) from GET /metrics, or None without them."""
    status, raw = c.request("GET", "/metrics")
    if status != 200:
        return None
    sums = {}
    for line in raw.decode(errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line[:line.index("{")], line[line.rindex("}") + 1:].split()
        else:
            name, *rest = line.split()
        if name in (READS, WRITES) and rest:
            sums[name] = sums.get(name, 0.0) + float(rest[0])
    return (sums[READS], sums[WRITES]) if len(sums) == 2 else None


def reads_per_write(port, threads, c, batches, timeout):
    """Creates `batches` once all else has settled and waits for them to end;
    returns create's answer and the store's records read per write meanwhile
    ("n/a" without the counters). Only the last batch's state is polled (by
    id), so the bench itself adds few reads."""
    before = store_counters(c)
    done, failed = create(port, threads, batches)
    if done:
        wait_state(c, max(bid for _, _, bid in done), TERMINAL, timeout)
    after = store_counters(c)
    if before is None or after is None:
        return done, failed, "n/a"
    # The others may still be taking their last step: until a second passes without a write.
    while True:
        time.sleep(1)
        again = store_counters(c)
        if again is None or again[1] == after[1]:
            break
        after = again
    if after[1] == before[1]:
        return done, failed, "no writes"
    return done, failed, (after[0] - before[0]) / (after[1] - before[1])


def latencies(port, paths, errors):
    """p50 and p99 in ms of GET each path in turn on one connection."""
    c = Client(port)
    for p in paths[:20]:
        c.request("GET", p)
    out = []
    for p in paths:
        t = time.perf_counter()
        status, _ = c.request("GET", p)
        out.append((time.perf_counter() - t) * 1000)
        if status != 200:
            errors[f"GET {p.split('?')[0].rsplit('/', 1)[0]}/…: {status}"] += 1
    return statistics.median(out), statistics.quantiles(out, n=100)[98]


def idle_cpu(pid, seconds):
    """The server's CPU over `seconds` of no requests, in % of one core."""
    time.sleep(1)  # let the last request's work finish
    t0, c0 = time.monotonic(), cpu_ticks(pid)
    time.sleep(seconds)
    return 100 * (cpu_ticks(pid) - c0) / HZ / (time.monotonic() - t0)


def end_sleepers(pids_file):
    """SIGTERM to each stand-in that stayed running (by the PIDs it noted)."""
    try:
        pids = [int(p) for p in open(pids_file).read().split()]
    except FileNotFoundError:
        return
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"sleep" not in f.read():
                    continue  # gone, and the PID reused
            os.kill(pid, signal.SIGTERM)
        except (FileNotFoundError, ProcessLookupError):
            pass


def log_problems(path):
    """WARN/ERROR lines of the server log: (count, a few distinct messages).
    The session driver build, which needs a real Spark's jars, is expected to fail."""
    msgs = collections.Counter()
    try:
        for line in open(path, errors="replace"):
            if (" WARN " in line or " ERROR " in line) and "driver build failed" not in line:
                # Drop the timestamp; keep level, target and message.
                msgs[line.split(" ", 1)[-1].strip()[:200]] += 1
    except FileNotFoundError:
        pass
    return sum(msgs.values()), msgs.most_common(5)


def fmt(v, digits):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    return f"{v:,.{digits}f}"


def table(stages, rows):
    """Prints one row per figure: its value at each stage, last/first, target."""
    heads = [f"{s:,}" for s in stages]
    print(f"{'figure (finished records; +100 running)':<40}" + "".join(f"{h:>10}" for h in heads)
          + f"{'last/first':>12}  {'target':<26}{'met':>4}")
    for label, vals, digits, target, ok in rows:
        nums = [v for v in vals if isinstance(v, (int, float)) and v == v]
        ratio = f"{nums[-1] / nums[0]:.2f}x" if len(nums) > 1 and nums[0] else "—"
        met = "—" if ok is None else ("yes" if ok else "NO")
        print(f"{label:<40}" + "".join(f"{fmt(v, digits):>10}" for v in vals)
              + f"{ratio:>12}  {target:<26}{met:>4}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=10000, help="finished records at the last stage")
    ap.add_argument("--threads", type=int, default=4, help="connections creating batches at once")
    ap.add_argument("--idle-seconds", type=float, default=20, help="CPU sampling time per stage")
    ap.add_argument("--settle-timeout", type=float, default=1800, help="seconds for a stage to settle")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (data, server.log)")
    args = ap.parse_args()
    if args.records < 300:
        sys.exit("--records must be at least 300")
    stages = [s for s in (100, 1000) if s < args.records] + [args.records]

    work = tempfile.mkdtemp(prefix="livy-bench-scale-")
    app = os.path.join(work, "app.py")
    open(app, "w").write("print('never run: spark-submit is a stand-in')\n")
    pids_file = os.path.join(work, "sleepers")
    spark_home = os.path.join(work, "spark")
    os.makedirs(os.path.join(spark_home, "bin"))
    submit = os.path.join(spark_home, "bin", "spark-submit")
    open(submit, "w").write(STAND_IN.replace("MARKER", MARKER).replace("PIDS", pids_file))
    os.chmod(submit, 0o755)
    log = os.path.join(work, "server.log")
    port = free_port()
    server = start_server(work, "data", port, [
        f"livy.server.spark-home={spark_home}",
        f"livy.file.local-dir-whitelist={work}",
        "livy.server.session.max-creation=1000000",  # running local batches count against it
        "livy.server.session.state-retain.sec=24h",  # finished records stay
        "livy.server.launch.isolation=none",  # the stand-in writes its PIDs outside any sandbox
    ], log)
    t_start = time.monotonic()
    failures, get_errors = collections.Counter(), collections.Counter()
    res = {s: {} for s in stages}
    dead = not_running = 0
    try:
        c = Client(port)
        print(f"server pid {server.pid}, port {port}, work dir {work}", flush=True)

        t = time.monotonic()
        done, failed = create(port, args.threads, [
            (i, {"file": app, "name": f"r-{i}", "args": [MARKER]}) for i in range(RUNNING)])
        failures.update(failed)
        if not done:
            sys.exit("no running batch could be created")
        sleepers = {bid for _, _, bid in done}
        names = [f"r-{i}" for _, i, _ in done]
        wait_state(c, done[-1][2], ("running",) + TERMINAL, args.settle_timeout)
        print(f"{len(done)} running batches: {rate(done):.0f} creates/s into an empty store, "
              f"{time.monotonic() - t:.1f} s", flush=True)

        made, prev = 0, 0
        for s in stages:
            t = time.monotonic()
            burst = BURST if prev else 0
            done, failed = create(port, args.threads, [
                (i, {"file": app, "name": f"b-{i}"}) for i in range(prev, s - burst)])
            failures.update(failed)
            made += len(done)
            names += [f"b-{i}" for _, i, _ in done]
            res[s]["rate"] = rate(done)
            t_created = time.monotonic()
            c = Client(port)  # the last one may have idled past the server's keep-alive timeout
            if done:
                wait_state(c, done[-1][2], TERMINAL, args.settle_timeout)
            settle(c, RUNNING + made, sleepers, args.settle_timeout)
            t_settled = time.monotonic()
            if burst:
                done, failed, res[s]["reads"] = reads_per_write(port, args.threads, c, [
                    (i, {"file": app, "name": f"b-{i}"}) for i in range(s - burst, s)],
                    args.settle_timeout)
                failures.update(failed)
                made += len(done)
                names += [f"b-{i}" for _, i, _ in done]
            others, asleep = settle(c, RUNNING + made, sleepers, args.settle_timeout)
            dead = others["dead"] + others["killed"] + others["error"]
            not_running = len(sleepers) - asleep["running"]
            res[s]["records"] = made
            res[s]["list"] = latencies(port, ["/batches?size=100"] * SAMPLES, get_errors)
            rng = random.Random(s)
            res[s]["name"] = latencies(port, [f"/batches/{rng.choice(names)}" for _ in range(SAMPLES)],
                                       get_errors)
            res[s]["cpu"] = idle_cpu(server.pid, args.idle_seconds)
            res[s]["rss"] = rss_kb(server.pid)
            r = res[s]
            reads = r.get("reads")
            print(f"{made:>6,} finished: created {t_created - t:.1f} s ({r['rate']:.0f}/s), settled "
                  f"{t_settled - t_created:.1f} s; list p50/p99 {r['list'][0]:.2f}/{r['list'][1]:.2f} ms, "
                  f"by name {r['name'][0]:.2f}/{r['name'][1]:.2f} ms; reads/write "
                  f"{fmt(reads, 1)}; idle CPU {r['cpu']:.2f}%; RSS {r['rss'] / 1024:.1f} MB; "
                  f"states {dict(others)}, running ones {dict(asleep)}", flush=True)
            prev = s
    finally:
        server.terminate()
        server.wait()
        end_sleepers(pids_file)

    base = res[stages[0]]
    per_record = [None] + [(res[s]["rss"] - base["rss"]) / (res[s]["records"] - base["records"])
                           for s in stages[1:]]
    top = res[stages[-1]]
    print()
    print(f"scale bench: {RUNNING} running batches, then finished ones over {args.threads} "
          f"connections; {SAMPLES} GETs per latency; {time.monotonic() - t_start:.0f} s in all")
    table(stages, [
        ("finished records", [res[s]["records"] for s in stages], 0, "", None),
        ("GET /batches?size=100 p50 ms", [res[s]["list"][0] for s in stages], 2, "", None),
        ("GET /batches?size=100 p99 ms", [res[s]["list"][1] for s in stages], 2, "<= 2 ms, flat",
         top["list"][1] <= 2),
        ("GET /batches/{name} p50 ms", [res[s]["name"][0] for s in stages], 2, "", None),
        ("GET /batches/{name} p99 ms", [res[s]["name"][1] for s in stages], 2, "<= 2 ms, flat",
         top["name"][1] <= 2),
        ("POST /batches creates/s", [res[s]["rate"] for s in stages], 0, ">= 300/s at 10,000, flat",
         top["rate"] >= 300),
        ("store reads per state change", [res[s].get("reads") for s in stages], 1, "O(1): flat",
         None),
        ("server CPU idle, % of one core", [res[s]["cpu"] for s in stages], 2, "< 0.5%",
         top["cpu"] < 0.5),
        ("server RSS MB", [res[s]["rss"] / 1024 for s in stages], 1, "", None),
        (f"RSS per record KB (since {stages[0]:,})", per_record, 2, "<= 5 KB",
         per_record[-1] <= 5),
    ])
    if any(res[s].get("reads") == "n/a" for s in stages):
        print(f"store reads per state change: n/a (no /metrics with {READS} and {WRITES})")
    problems = sum(failures.values()) + sum(get_errors.values()) + dead + not_running
    print(f"failed creates {sum(failures.values())}, failed GETs {sum(get_errors.values())}, "
          f"finished not success {dead}, running batches that stopped {not_running}")
    for msg, n in (failures + get_errors).most_common(5):
        print(f"  {n} x {msg}")
    n, common = log_problems(log)
    print(f"server log: {n} WARN/ERROR lines")
    for msg, k in common:
        print(f"  {k} x {msg}")
    if args.keep or problems:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
