"""Store benchmark: the same server on the embedded store and on the
PostgreSQL store, in one run, with a stand-in spark-submit (exits at once).

For each store: POST /batches creates/s over 4 connections (every batch
launched and finished alongside), then GET /batches/{id} requests/s over 4
connections and GET /batches?size=100 p50/p99 once all have finished. Prints
each figure for both stores and the PostgreSQL/embedded ratio.

PostgreSQL is Debian's (initdb and pg_ctl, as the postgres user when run as
root), started in a temporary directory on loopback with its default
durability (fsync on), like the embedded store's fsynced commits.
"""
import argparse, glob, os, shutil, subprocess, sys, tempfile, threading, time

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


def get_rate(port, ids, threads, seconds):
    """GET /batches/{id} requests/s over `threads` connections for `seconds`."""
    stop, counts = time.monotonic() + seconds, [0] * threads

    def work(k):
        c = Client(port)
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


def measure(work, name, extra, args, app):
    port = free_port()
    server = start_server(work, name, port, extra, os.path.join(work, f"{name}.log"))
    try:
        done, failed = create(port, args.threads, [(i, {"file": app}) for i in range(args.batches)])
        if failed:
            sys.exit(f"{name}: failed creates: {dict(failed)}")
        c = Client(port)
        settle(c, len(done), set(), 600)
        ids = [bid for _, _, bid in done]
        errors = {}
        return {
            "creates/s": rate(done),
            "GET by id req/s": get_rate(port, ids, args.threads, args.seconds),
            "list p50 ms": latencies(port, ["/batches?size=100"] * 300, errors)[0],
            "list p99 ms": latencies(port, ["/batches?size=100"] * 300, errors)[1],
        }
    finally:
        server.terminate()
        server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5, help="GET throughput sampling time")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="livy-bench-store-")
    spark_home = os.path.join(work, "spark")
    os.makedirs(os.path.join(spark_home, "bin"))
    submit = os.path.join(spark_home, "bin", "spark-submit")
    open(submit, "w").write(STAND_IN.replace("MARKER", "never").replace("PIDS", "/dev/null"))
    os.chmod(submit, 0o755)
    app = os.path.join(work, "app.py")
    open(app, "w").write("print('never run: spark-submit is a stand-in')\n")
    common = [f"livy.server.spark-home={spark_home}", f"livy.file.local-dir-whitelist={work}",
              "livy.server.session.max-creation=1000000", "livy.server.session.state-retain.sec=24h"]
    pg = Postgres()
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "livy", "-d", "postgres",
                        "-qc", "CREATE DATABASE livy"], check=True)
        res = {
            "embedded": measure(work, "embedded", common, args, app),
            "postgres": measure(work, "postgres", common + [
                "livy.server.recovery.state-store=postgres",
                f"livy.server.recovery.state-store.url={pg.url('livy')}"], args, app),
        }
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nstore bench: {args.batches} batches over {args.threads} connections, stand-in spark-submit")
    print(f"{'figure':<22}{'embedded':>12}{'postgres':>12}{'pg/embedded':>14}")
    for k in res["embedded"]:
        e, p = res["embedded"][k], res["postgres"][k]
        print(f"{k:<22}{e:>12.2f}{p:>12.2f}{p / e:>13.2f}x")
    print("Several servers on one database need leader election (issue 12, not built yet): "
          "only one server per store is measured.")


if __name__ == "__main__":
    main()
