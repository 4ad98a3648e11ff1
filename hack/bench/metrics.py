"""Metrics overhead benchmark: the same server with metrics on (the default:
every API request counted and timed, store, reconcile and launch figures
recorded) and off (`livy.server.metrics.enabled=false`), in one run, with a
stand-in spark-submit (exits at once).

Measured off, on, on, off (each figure the mean of its setup's two runs,
so that a disk slowing down over the run weighs on both alike). For each:
POST /batches creates/s over 4 connections (every batch launched
and finished alongside), GET /batches/{id} requests/s over 4 connections,
and GET /batches?size=100 p50/p99 once all have finished (store.py's
measure). Prints each figure and its ratio on/off.
"""
import argparse, shutil, tempfile

from store import measure, stand_in


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5, help="GET throughput sampling time")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="livy-bench-metrics-")
    app, common = stand_in(work)
    try:
        setups = {"off": common + ["livy.server.metrics.enabled=false"], "on": common}
        # Off, on, on, off, each figure the mean of its setup's two runs: on
        # this disk every run creates more slowly than the one before it
        # (ext4's allocator after many files), whichever setup it measures.
        runs = {"off": [], "on": []}
        for i, name in enumerate(["off", "on", "on", "off"]):
            runs[name].append(measure(work, f"{name}{i}", setups[name], args, app))
        res = {name: {k: sum(r[k] for r in rs) / len(rs) for k in rs[0]} for name, rs in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nmetrics bench: {args.batches} batches over {args.threads} connections, stand-in spark-submit")
    print(f"{'figure':<22}{'off':>14}{'on':>14}{'on/off':>12}")
    for k in res["off"]:
        off, on = res["off"][k], res["on"][k]
        print(f"{k:<22}{off:>14.2f}{on:>14.2f}{on / off:>11.2f}x")


if __name__ == "__main__":
    main()
