"""Store benchmark: the server on the embedded store, one server on the
PostgreSQL store, and two servers sharing one PostgreSQL database (leader
election, one reconciles), in one run, with a stand-in spark-submit (exits
at once).

For each setup: POST /batches creates/s over 4 connections (spread over the
servers; every batch launched and finished alongside), then GET
/batches/{id} requests/s over 4 connections (spread likewise) and GET
/batches?size=100 p50/p99 (on the last server: a follower when there are
two) once all have finished. Prints each figure for every setup and its
ratio to the embedded store.

PostgreSQL is Debian's (initdb and pg_ctl, as the postgres user when run as
root), started in a temporary directory on loopback with its default
durability (fsync on), like the embedded store's fsynced commits.
"""
import argparse, collections, glob, os, shutil, subprocess, sys, tempfile, threading, time

from benchlib import Client, start_server
from scale import STAND_IN, create, free_port, latencies, rate, settle

HERE = os.path.dirname(os.path.abspath(__file__))


def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    path = shutil.which("initdb")
    if not path:
        sys.exit("PostgreSQL's initdb not found (hack/setup.sh --test installs it)")
    return os.path.dirname(path)


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


class Postgres:
    """A PostgreSQL cluster of its own in a temporary directory (owned by
    the postgres user when run as root), trust auth on loopback."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="livy-bench-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.bin, self.port = pg_bin(), free_port()
        data = os.path.join(self.dir, "data")
        subprocess.run(as_postgres([os.path.join(self.bin, "initdb"), "-D", data, "-A", "trust",
                                    "-U", "livy", "-E", "UTF8"]),
                       check=True, stdout=subprocess.DEVNULL)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        subprocess.run(as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", data, "-o", opts, "-l",
                                    os.path.join(self.dir, "log"), "-w", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.data = data

    def url(self, db):
        return f"postgres://livy@127.0.0.1:{self.port}/{db}"

    def stop(self):
        subprocess.run(as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast",
                                    "-w", "stop"]), stdout=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


def get_rate(ports, ids, threads, seconds):
    """GET /batches/{id} requests/s over `threads` connections (spread over
    `ports`) for `seconds`."""
    stop, counts = time.monotonic() + seconds, [0] * threads

    def work(k):
        c = Client(ports[k % len(ports)])
        i = k
        while time.monotonic() < stop:
            status, _ = c.request("GET", f"/batches/{ids[i % len(ids)]}")
            if status != 200:
                sys.exit(f"GET /batches/{ids[i % len(ids)]}: {status}")
            counts[k] += 1
            i += threads
    t0 = time.monotonic()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def create_on(ports, threads, n, app):
    """`n` creates over `threads` connections spread over `ports`, all at
    once; the answers of every server, merged in time order."""
    share = [threads // len(ports) + (k < threads % len(ports)) for k in range(len(ports))]
    results = [None] * len(ports)

    def run(k):
        items = [(i, {"file": app}) for i in range(k, n, len(ports))]
        results[k] = create(ports[k], share[k], items)
    pool = [threading.Thread(target=run, args=(k,)) for k in range(len(ports))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    done = sorted(d for r in results for d in r[0])
    failed = sum((r[1] for r in results), collections.Counter())
    return done, failed


def stand_in(work):
    """A Spark home under `work` whose spark-submit exits at once, an app
    file, and the server settings every setup of a batch bench shares."""
    spark_home = os.path.join(work, "spark")
    os.makedirs(os.path.join(spark_home, "bin"))
    submit = os.path.join(spark_home, "bin", "spark-submit")
    open(submit, "w").write(STAND_IN.replace("MARKER", "never").replace("PIDS", "/dev/null"))
    os.chmod(submit, 0o755)
    app = os.path.join(work, "app.py")
    open(app, "w").write("print('never run: spark-submit is a stand-in')\n")
    common = [f"livy.server.spark-home={spark_home}", f"livy.file.local-dir-whitelist={work}",
              "livy.server.session.max-creation=1000000", "livy.server.session.state-retain.sec=24h",
              "livy.server.launch.isolation=none"]  # the store is measured, not launches
    return app, common


def measure(work, name, extra, args, app, servers=1):
    ports = [free_port() for _ in range(servers)]
    # One data directory for all: the servers share the applications' files.
    procs = [start_server(work, name, p, extra, os.path.join(work, f"{name}-{p}.log")) for p in ports]
    try:
        done, failed = create_on(ports, args.threads, args.batches, app)
        if failed:
            sys.exit(f"{name}: failed creates: {dict(failed)}")
        c = Client(ports[-1])
        settle(c, len(done), set(), 600)
        ids = [bid for _, _, bid in done]
        if len(set(ids)) != len(ids):
            sys.exit(f"{name}: an id was given twice")
        errors = {}
        return {
            "creates/s": rate(done),
            "GET by id req/s": get_rate(ports, ids, args.threads, args.seconds),
            "list p50 ms": latencies(ports[-1], ["/batches?size=100"] * 300, errors)[0],
            "list p99 ms": latencies(ports[-1], ["/batches?size=100"] * 300, errors)[1],
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5, help="GET throughput sampling time")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="livy-bench-store-")
    app, common = stand_in(work)
    pg = Postgres()
    try:
        for db in ("livy", "livy2"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "livy", "-d",
                            "postgres", "-qc", f"CREATE DATABASE {db}"], check=True)

        def on(db):
            return common + ["livy.server.recovery.state-store=postgres",
                             f"livy.server.recovery.state-store.url={pg.url(db)}"]
        res = {
            "embedded": measure(work, "embedded", common, args, app),
            "postgres": measure(work, "postgres", on("livy"), args, app),
            "postgres x2": measure(work, "postgres2", on("livy2"), args, app, servers=2),
        }
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nstore bench: {args.batches} batches over {args.threads} connections, stand-in spark-submit")
    setups = list(res)
    print(f"{'figure':<22}" + "".join(f"{s:>14}" for s in setups)
          + "".join(f"{s + '/embedded':>24}" for s in setups[1:]))
    for k in res["embedded"]:
        e = res["embedded"][k]
        print(f"{k:<22}" + "".join(f"{res[s][k]:>14.2f}" for s in setups)
              + "".join(f"{res[s][k] / e:>23.2f}x" for s in setups[1:]))


if __name__ == "__main__":
    main()
