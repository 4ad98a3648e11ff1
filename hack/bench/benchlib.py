"""What the benchmark scripts share: a JSON client on one keep-alive
connection, starting a release livy-server on a loopback port, and waiting
for an idle session."""
import http.client, json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "livy-server")


class Client:
    """JSON calls over one keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port, timeout=60):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method, path, body=None):
        """One call: (HTTP status, raw response body)."""
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def call(self, method, path, body=None):
        return json.loads(self.request(method, path, body)[1] or b"null")


def start_server(work, name, port, extra, log=None):
    """Starts the server with data under work/name (its log to `log`, a path,
    if given); returns once it answers."""
    cmd = [BIN, "--port", str(port), "--data-dir", os.path.join(work, name),
           "--conf", "livy.server.host=127.0.0.1", "--conf", "livy.rsc.launcher.port.range=0~0"]
    for c in extra:
        cmd += ["--conf", c]
    out = open(log, "w") if log else subprocess.DEVNULL  # the server logs to stdout
    p = subprocess.Popen(cmd, stdout=out, stderr=out)
    for _ in range(400):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/version")
            conn.getresponse().read()
            return p
        except OSError:
            time.sleep(0.05)
    sys.exit(f"server {name} did not start")


def idle_session(c, kind="pyspark"):
    """Creates a session through `c.call(method, path, body)`; its id once idle."""
    s = c.call("POST", "/sessions", {"kind": kind})
    while True:
        st = c.call("GET", f"/sessions/{s['id']}/state")["state"]
        if st == "idle":
            return s["id"]
        if st in ("dead", "error", "killed"):
            sys.exit(f"session ended {st}")
        time.sleep(0.1)


# A bare PySpark session on the same master: the baseline of the session benchmarks.
PYTHON = os.environ.get("PYSPARK_PYTHON", sys.executable)
BARE = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[*]").appName("bare").getOrCreate()
print("READY", flush=True)
import sys; sys.stdin.read()
"""


def bare_startup(script):
    t = time.monotonic()
    p = subprocess.Popen([PYTHON, script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
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
            log = c.call("GET", f"/sessions/{sid}/log?size=200")
            sys.exit(f"session {sid} ended {s}:\n" + "\n".join(log.get("log", [])))
        time.sleep(0.02)
