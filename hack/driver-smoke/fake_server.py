#!/usr/bin/env python3
"""Stand-in for livy-server's side of the REPL driver protocol (stdlib only).

Builds the driver jar (build.sh), listens on 127.0.0.1:<port>, launches the driver with
spark-submit exactly as the server does, speaks the newline-delimited JSON protocol, and checks
real outputs. One Spark application at a time (2-core machines). Prints PASS/FAIL per check and
exits non-zero if any check failed.

  hack/driver-smoke/fake_server.py                 # local-mode sessions + standalone Scala pi
  hack/driver-smoke/fake_server.py --no-standalone # local mode only
  hack/driver-smoke/fake_server.py --perf 3        # also time startups against bare PySpark
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PY_SCRIPT = os.path.join(ROOT, "src", "repl", "driver", "livy_repl.py")
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
SPARK_HOME = os.environ.get("SPARK_HOME") or os.path.join(ROOT, ".venv", "lib", "python3.11", "site-packages", "pyspark")

RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append((name, bool(ok)))
    line = "%s %s" % ("PASS" if ok else "FAIL", name)
    if detail and not ok:
        line += " -- " + str(detail)[:800]
    elif detail:
        line += " (" + str(detail)[:200] + ")"
    print(line, flush=True)
    return ok


def text_of(ev):
    return ((ev or {}).get("output") or {}).get("data", {}).get("text/plain")


def spark_env():
    env = dict(os.environ)
    env["SPARK_HOME"] = SPARK_HOME
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env["PYSPARK_PYTHON"] = VENV_PY
    env["PATH"] = os.path.dirname(VENV_PY) + os.pathsep + env.get("PATH", "")
    return env


# ------------------------------------------------------------------ fake server

class Server(object):
    """One listening socket; drivers are told apart by the session id in their hello."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.sessions = {}
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def close(self):
        # shutdown() wakes the thread blocked in accept(); close() alone would not (Linux).
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _handshake(self, conn):
        f = conn.makefile("rb")
        line = f.readline()
        try:
            hello = json.loads(line)
        except ValueError:
            conn.close()
            return
        sess = self.sessions.get(hello.get("session"))
        if hello.get("type") != "hello" or sess is None or hello.get("secret") != sess.secret:
            if sess is not None:
                sess.rejected += 1
            conn.close()  # a bad secret: no welcome
            return
        sess.attach(conn, f, hello)


class DriverSession(object):
    def __init__(self, server, sid, kind, master, jar, extra_conf=(), log_dir="/tmp", wrong_secret=False,
                 user_jars=()):
        self.server, self.id, self.kind = server, sid, kind
        self.secret = secrets.token_hex(16)
        self.cond = threading.Condition()
        self.events = []  # (t, msg)
        self.hellos = []
        self.conn = None
        self.rejected = 0
        self.next_sid = 0
        self.next_req = 0
        server.sessions[sid] = self
        cmd = [os.path.join(SPARK_HOME, "bin", "spark-submit"), "--master", master, "--deploy-mode", "client",
               "--name", "livy-session-%d" % sid,
               "--conf", "spark.livy.callback=127.0.0.1:%d" % server.port,
               "--conf", "spark.livy.session.id=%d" % sid,
               "--conf", "spark.livy.session.kind=%s" % kind,
               "--conf", "spark.livy.repl.python=%s" % PY_SCRIPT,
               "--conf", "spark.livy.sql.num-rows=1000"]
        for kv in extra_conf:
            cmd += ["--conf", kv]
        if user_jars:
            cmd += ["--jars", ",".join(user_jars)]
        cmd += ["--class", "org.livyserver.repl.LivyReplDriver", jar]
        env = spark_env()
        # The secret travels in the environment, never on the command line.
        env["LIVY_SESSION_SECRET"] = "not-" + self.secret if wrong_secret else self.secret
        self.log_path = os.path.join(log_dir, "driver-session-%d.log" % sid)
        self.log = open(self.log_path, "wb")
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    # -- connection
    def attach(self, conn, f, hello):
        with self.cond:
            self.conn = conn
            self.hellos.append((time.time(), hello))
            conn.sendall(b'{"type":"welcome"}\n')
            self.cond.notify_all()
        threading.Thread(target=self._read, args=(conn, f), daemon=True).start()

    def _read(self, conn, f):
        for line in f:
            msg = json.loads(line)
            with self.cond:
                self.events.append((time.time(), msg))
                self.cond.notify_all()
        with self.cond:
            if self.conn is conn:
                self.conn = None
            self.cond.notify_all()

    def drop_connection(self):
        with self.cond:
            c = self.conn
            self.conn = None
        c.shutdown(socket.SHUT_RDWR)
        c.close()

    def send(self, msg):
        data = (json.dumps(msg) + "\n").encode("utf-8")
        with self.cond:
            self.conn.sendall(data)

    # -- waiting
    def wait_for(self, pred, timeout, start=0):
        """First event (index >= start) matching pred, or None after timeout."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.events)):
                    if pred(self.events[i][1]):
                        return self.events[i]
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 1.0))

    def wait_hello(self, timeout=180, count=1):
        deadline = time.time() + timeout
        with self.cond:
            while len(self.hellos) < count and time.time() < deadline and self.proc.poll() is None:
                self.cond.wait(0.5)
            return self.hellos[count - 1] if len(self.hellos) >= count else None

    def wait_state(self, state, timeout=180, start=0):
        return self.wait_for(lambda m: m.get("type") == "state" and m.get("state") == state, timeout, start)

    # -- statements
    def submit(self, kind, code):
        sid = self.next_sid
        self.next_sid += 1
        self.send({"type": "execute", "id": sid, "kind": kind, "code": code})
        return sid

    def final(self, sid, timeout=180):
        ev = self.wait_for(lambda m: m.get("type") == "statement" and m.get("id") == sid
                           and m.get("state") in ("available", "cancelled"), timeout)
        return ev[1] if ev else None

    def run(self, kind, code, timeout=180):
        t = time.time()
        ev = self.final(self.submit(kind, code), timeout)
        return ev, time.time() - t

    def complete(self, kind, code, cursor=None, timeout=30):
        req = self.next_req
        self.next_req += 1
        self.send({"type": "complete", "req": req, "kind": kind, "code": code,
                   "cursor": len(code) if cursor is None else cursor})
        ev = self.wait_for(lambda m: m.get("type") == "completion" and m.get("req") == req, timeout)
        return ev[1]["candidates"] if ev else None

    def shutdown(self, timeout=60):
        try:
            self.send({"type": "shutdown"})
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n=40):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")


# ------------------------------------------------------------------ checks

PI_SCALA = """val NUM_SAMPLES = 100000;
val count = sc.parallelize(1 to NUM_SAMPLES).map { i =>
val x = Math.random();
val y = Math.random();
if (x*x + y*y < 1) 1 else 0
}.reduce(_ + _);
println(\"Pi is roughly \" + 4.0 * count / NUM_SAMPLES)
"""

PI_PYTHON = """import random
NUM_SAMPLES = 100000
def sample(p):
    x, y = random.random(), random.random()
    return 1 if x*x + y*y < 1 else 0

count = sc.parallelize(range(0, NUM_SAMPLES)).map(sample).reduce(lambda a, b: a + b)
print("Pi is roughly %f" % (4.0 * count / NUM_SAMPLES))
"""

LONG_PY = "sc.parallelize(range(100), 100).map(lambda x: __import__('time').sleep(1) or x).count()"
LONG_SCALA = "sc.parallelize(1 to 100, 100).map { x => Thread.sleep(1000); x }.count()"


GREETER = "package smoke; public class Greeter { public static String hello() { return \"hi from jar\"; } }"


def user_jar(work):
    """A tiny user jar (class smoke.Greeter), as a session's `jars` would bring."""
    src = os.path.join(work, "smoke")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "Greeter.java"), "w") as f:
        f.write(GREETER)
    subprocess.run(["javac", "-d", work, os.path.join(src, "Greeter.java")], check=True)
    path = os.path.join(work, "greeter.jar")
    subprocess.run(["jar", "cf", path, "-C", work, "smoke/Greeter.class"], check=True)
    return path


def check_startup(s, label, early=None):
    hello = s.wait_hello()
    if not check("%s: hello received" % label, hello, "" if hello else s.tail()):
        return None
    if early:
        early()  # statements sent between hello and idle must queue
    t_hello, h = hello
    check("%s: hello carries appId and sparkUiUrl" % label,
          isinstance(h.get("appId"), str) and h["appId"] and "sparkUiUrl" in h and h.get("session") == s.id, h)
    idle = s.wait_state("idle")
    if not check("%s: driver reports idle" % label, idle, "" if idle else s.tail()):
        return None
    states = [m.get("state") for _, m in s.events if m.get("type") == "state"]
    check("%s: state starting before idle" % label, states[:2] == ["starting", "idle"], states)
    return t_hello - s.t0, idle[0] - s.t0


def check_cancel(s, kind, code, label):
    first = len(s.events)
    sid = s.submit(kind, code)
    running = s.wait_for(lambda m: m.get("type") == "statement" and m.get("id") == sid and m.get("state") == "running", 120, first)
    # Let the job get going (tasks sleeping on the executors) before cancelling.
    progress = s.wait_for(lambda m: m.get("type") == "progress" and m.get("id") == sid and m.get("progress", 0) > 0, 30, first)
    t = time.time()
    s.send({"type": "cancel", "id": sid})
    ev = s.final(sid, 60)
    took = time.time() - t
    states = [m.get("state") for _, m in s.events[first:] if m.get("type") == "statement" and m.get("id") == sid]
    ok = running and ev and ev.get("state") == "cancelled" and took < 5 and states[-2:] == ["cancelling", "cancelled"]
    check("%s: cancelled within 5 s" % label, ok, "took %.2f s, states %s, %s" % (took, states, ev))
    check("%s: progress reported while running" % label,
          progress and 0 < progress[1]["progress"] < 1, progress and progress[1])
    ev2, _ = s.run("pyspark" if kind == "pyspark" else "spark", "1 + 1" if kind == "pyspark" else "40 + 2")
    check("%s: next statement runs after cancel" % label,
          ev2 and ev2["output"]["status"] == "ok" and ("2" == text_of(ev2) or "Int = 42" in (text_of(ev2) or "")), ev2)


def session_shared(server, jar, args):
    """kind=shared, local mode: Scala first; every statement kind on one context."""
    s = DriverSession(server, 1, "shared", "local[2]", jar, log_dir=args.log_dir, user_jars=[args.user_jar])
    try:
        times = check_startup(s, "shared", early=lambda: s.submit("spark", "1 + 1"))
        if not times:
            return {}
        timings = {"shared_hello": times[0], "shared_idle": times[1]}

        ev = s.final(0)
        order = [(m.get("type"), m.get("state")) for _, m in s.events if m.get("type") in ("state", "statement")]
        check("statement sent before idle is queued, runs after idle",
              order[:4] == [("state", "starting"), ("state", "idle"), ("statement", "running"), ("state", "busy")], order)
        tp = text_of(ev) or ""
        check("scala 1 + 1 -> 'res0: Int = 2'", ev and ev["output"]["status"] == "ok"
              and ev["output"]["execution_count"] == ev["id"]
              and tp.lstrip().startswith("res0: Int = 2"), ev)
        ev, _ = s.run("pyspark", "1 + 1")
        check("python 1 + 1 -> '2' (python started lazily in a shared session)",
              ev and ev["output"] == {"status": "ok", "execution_count": ev["id"], "data": {"text/plain": "2"}}, ev)
        ev, _ = s.run("sql", "SELECT 1 AS a")
        want = {"schema": {"type": "struct", "fields": [{"name": "a", "type": "integer", "nullable": False, "metadata": {}}]},
                "data": [[1]]}
        check("sql SELECT 1 AS a -> application/json schema + data",
              ev and ev["output"]["status"] == "ok" and ev["output"]["data"].get("application/json") == want, ev)

        ev, _ = s.run("pyspark", 'spark.range(3).createOrReplaceTempView("t")')
        check("python creates temp view t", ev and ev["output"]["status"] == "ok", ev)
        ev, _ = s.run("sql", "SELECT count(*) FROM t")
        check("sql reads python's temp view", ev and ev["output"]["status"] == "ok"
              and ev["output"]["data"]["application/json"]["data"] == [[3]], ev)
        ev, _ = s.run("spark", 'spark.table("t").count()')
        check("scala reads python's temp view", ev and ev["output"]["status"] == "ok"
              and "Long = 3" in (text_of(ev) or ""), ev)

        ev, _ = s.run("spark", "smoke.Greeter.hello()")
        check("scala sees the session's --jars (compile + run)", "hi from jar" in (text_of(ev) or ""), ev)
        ev, _ = s.run("sql", "SELECT id, id * 0.5 AS half, CAST(id AS STRING) AS s, DATE'2024-01-02' AS d, "
                             "array(1, 2) AS arr, map('k', id) AS m, named_struct('x', 1) AS st, NULL AS n "
                             "FROM range(2000)")
        j = ((ev or {}).get("output", {}).get("data") or {}).get("application/json") or {}
        rows = j.get("data") or []
        check("sql limits rows to spark.livy.sql.num-rows and converts types",
              len(rows) == 1000 and rows[1] == [1, 0.5, "1", "2024-01-02", [1, 2], {"k": 1}, {"x": 1}, None], rows[:2])
        ev, _ = s.run("sql", "SELECT * FROM no_such_table")
        out = (ev or {}).get("output", {})
        check("sql error -> status error", out.get("status") == "error" and "no_such_table" in out.get("evalue", ""), ev)

        ev, _ = s.run("spark", "case class R(a: Int)\nSeq(R(1), R(2)).toDS().map(r => r.a * 2).collect().sum")
        check("scala Dataset of a REPL case class (encoders)", "Int = 6" in (text_of(ev) or ""), ev)
        ev, _ = s.run("pyspark", "from pyspark.sql.functions import udf\n"
                                 "spark.range(3).select(udf(lambda x: x + 1, 'long')('id').alias('y')).collect()")
        check("python UDF runs in Python workers", (text_of(ev) or "").endswith("[Row(y=1), Row(y=2), Row(y=3)]"), ev)

        ev, _ = s.run("pyspark", "1/0")
        out = (ev or {}).get("output", {})
        check("python 1/0 -> ZeroDivisionError with traceback",
              out.get("status") == "error" and out.get("ename") == "ZeroDivisionError"
              and out.get("evalue") == "division by zero" and len(out.get("traceback", [])) > 0
              and ev.get("state") == "available", ev)
        ev, _ = s.run("spark", 'val broken: Int = "text"')
        out = (ev or {}).get("output", {})
        check("scala compile error -> error with ename, evalue, traceback",
              out.get("status") == "error" and out.get("ename") and out.get("evalue")
              and "type mismatch" in out.get("evalue", "") and len(out.get("traceback", [])) > 0, ev)
        ev, _ = s.run("spark", "def f(x: Int) = {")
        out = (ev or {}).get("output", {})
        check("scala incomplete statement -> Error / incomplete statement",
              out.get("ename") == "Error" and out.get("evalue") == "incomplete statement", ev)
        ev, _ = s.run("spark", "1 / 0")
        out = (ev or {}).get("output", {})
        check("scala runtime exception -> error", out.get("status") == "error"
              and "ArithmeticException" in out.get("evalue", ""), ev)
        ev, _ = s.run("pyspark", 'print("hello")\nimport sys; sys.stderr.write("warn\\n")\n40 + 2')
        check("python stdout + stderr + repr", text_of(ev) == "hello\nwarn\n42", ev)
        ev, _ = s.run("spark", 'println("out"); System.out.println("sys"); Console.err.println("err")')
        t = text_of(ev) or ""
        check("scala captures println, System.out and Console.err", all(x in t for x in ("out", "sys", "err")), ev)

        check_cancel(s, "pyspark", LONG_PY, "python cancel of a long job")
        check_cancel(s, "spark", LONG_SCALA, "scala cancel of a long job")
        for kind, code, label in (("pyspark", "while True: pass", "python busy loop"),
                                  ("spark", "while (true) {}", "scala busy loop")):
            sid = s.submit(kind, code)
            s.wait_for(lambda m: m.get("type") == "statement" and m.get("id") == sid and m.get("state") == "running", 60)
            time.sleep(1)
            t = time.time()
            s.send({"type": "cancel", "id": sid})
            ev = s.final(sid, 60)
            took = time.time() - t
            check("%s cancelled within 5 s" % label, ev and ev["state"] == "cancelled" and took < 5, "%.2f s %s" % (took, ev))
            ev2, _ = s.run(kind, "1 + 1")
            check("%s: next statement runs" % label, ev2 and ev2["output"]["status"] == "ok", ev2)

        # A waiting statement is cancelled without ever running.
        a = s.submit("pyspark", "import time; time.sleep(2)")
        b = s.submit("pyspark", "1 + 1")
        s.send({"type": "cancel", "id": b})
        evb = s.final(b, 30)
        eva = s.final(a, 30)
        states_b = [m.get("state") for _, m in s.events if m.get("type") == "statement" and m.get("id") == b]
        check("cancel of a waiting statement -> cancelled, never running",
              evb and evb["state"] == "cancelled" and states_b == ["cancelled"]
              and eva and eva["state"] == "available", (states_b, eva))

        ev, _ = s.run("spark", PI_SCALA)
        check("scala pi (seed example) -> 'Pi is roughly'", "Pi is roughly" in (text_of(ev) or ""), ev)
        check("scala pi prints values Livy-style (NUM_SAMPLES: Int = 100000)",
              "\nNUM_SAMPLES: Int = 100000" in (text_of(ev) or ""), ev)
        ev, _ = s.run("pyspark", PI_PYTHON)
        check("python pi -> 'Pi is roughly'", (text_of(ev) or "").startswith("Pi is roughly"), ev)

        ev, _ = s.run("pyspark", "d = {'a': 1, 'b': [1, 2]}\nrows = [{'x': 1, 'y': 'a'}, {'x': 2, 'y': 'b'}]")
        ev, _ = s.run("pyspark", "%json d")
        check("python %json", ev and ev["output"]["data"] == {"application/json": {"a": 1, "b": [1, 2]}}, ev)
        ev, _ = s.run("pyspark", "%table rows")
        want = {"headers": [{"name": "x", "type": "INT_TYPE"}, {"name": "y", "type": "STRING_TYPE"}],
                "data": [[1, "a"], [2, "b"]]}
        check("python %table", ev and ev["output"]["data"].get("application/vnd.livy.table.v1+json") == want, ev)
        ev, _ = s.run("pyspark", "%nosuch x")
        check("python unknown magic -> UnknownMagic", ev and ev["output"].get("ename") == "UnknownMagic", ev)
        ev, _ = s.run("spark", "val m = Map(\"a\" -> 1)\n%json m")
        check("scala %json", ev and ev["output"].get("data", {}).get("application/json") == {"a": 1}, ev)
        ev, _ = s.run("spark", "val people = Seq(Map(\"name\" -> \"a\"), Map(\"name\" -> \"b\"))\n%table people")
        want = {"headers": [{"name": "name", "type": "STRING_TYPE"}], "data": [["a"], ["b"]]}
        check("scala %table", ev and ev["output"].get("data", {}).get("application/vnd.livy.table.v1+json") == want, ev)
        ev, _ = s.run("sparkr", "1 + 1")
        check("sparkr statement -> InterpreterError / Fail to start interpreter",
              ev and ev["output"].get("ename") == "InterpreterError" and ev["output"].get("evalue") == "Fail to start interpreter", ev)
        ev, _ = s.run("cobol", "1 + 1")
        check("unknown kind -> InterpreterError", ev and ev["output"].get("ename") == "InterpreterError", ev)

        ev, _ = s.run("pyspark", "import os; os._exit(3)")
        out = (ev or {}).get("output", {})
        check("python child death -> error 'Interpreter died'", out.get("status") == "error"
              and out.get("evalue", "").startswith("Interpreter died"), ev)
        ev, _ = s.run("pyspark", "spark.range(4).count()")
        check("python restarts after its death", text_of(ev) == "4", ev)

        c = s.complete("spark", "spark.ran")
        check("scala completion", c is not None and "range" in c, c)
        c = s.complete("pyspark", "spark.ran")
        check("python completion", c is not None and any(x.startswith("spark.range") for x in c), c)

        # Round trips, warm.
        py = [s.run("pyspark", "1 + 1")[1] for _ in range(5)]
        sc_ = [s.run("spark", "1 + 1")[1] for _ in range(5)]
        timings["python_1p1_ms"] = statistics.median(py) * 1000
        timings["scala_1p1_ms"] = statistics.median(sc_) * 1000

        # Reconnect: drop the connection; the driver re-dials, says hello, sends history.
        before = len(s.events)
        s.drop_connection()
        h2 = s.wait_hello(60, count=2)
        hist = s.wait_for(lambda m: m.get("type") == "history", 30, before)
        ok = h2 and hist and len(hist[1]["statements"]) >= 20
        sample = hist[1]["statements"][0] if hist else None
        check("reconnect: hello again + history of statements", ok and sample and
              set(sample) == {"id", "code", "state", "output", "progress", "started", "completed"}, sample)
        ev, _ = s.run("pyspark", "2 + 3")
        check("reconnect: statements run on the new connection", text_of(ev) == "5", ev)

        code = s.shutdown()
        check("shutdown -> driver exits 0", code == 0, code)
        return timings
    finally:
        s.kill()


def session_pyspark(server, jar, args):
    """kind=pyspark, local mode: Python first, Scala later (lazily, after the context)."""
    s = DriverSession(server, 2, "pyspark", "local[2]", jar, log_dir=args.log_dir, user_jars=[args.user_jar])
    try:
        times = check_startup(s, "pyspark")
        if not times:
            return {}
        timings = {"pyspark_hello": times[0], "pyspark_idle": times[1]}
        ev, dt = s.run("pyspark", "1 + 1")
        check("pyspark session: python 1 + 1", text_of(ev) == "2", ev)
        ev, dt = s.run("spark", "1 + 1")
        timings["pyspark_first_scala_s"] = dt
        check("pyspark session: late scala 1 + 1 -> res0", (text_of(ev) or "").startswith("res0: Int = 2"), ev)
        ev, _ = s.run("spark", "case class P(x: Int)\nsc.parallelize(1 to 3).map(P(_)).collect().map(_.x).sum")
        check("pyspark session: late scala closure + REPL case class", "Int = 6" in (text_of(ev) or ""), ev)
        ev, _ = s.run("spark", "smoke.Greeter.hello()")
        check("pyspark session: late scala sees --jars", "hi from jar" in (text_of(ev) or ""), ev)
        ev, _ = s.run("spark", "case class R(a: Int)\nSeq(R(1), R(2)).toDS().map(r => r.a * 2).collect().sum")
        check("pyspark session: late scala Dataset of a REPL case class", "Int = 6" in (text_of(ev) or ""), ev)
        code = s.shutdown()
        check("pyspark session: shutdown -> exit 0", code == 0, code)
        return timings
    finally:
        s.kill()


def session_bad_secret(server, jar, args):
    s = DriverSession(server, 3, "sql", "local[1]", jar, log_dir=args.log_dir, wrong_secret=True)
    try:
        code = s.proc.wait(180)
        check("bad secret -> no welcome, driver exits non-zero", code != 0 and s.rejected >= 1 and not s.hellos,
              "exit %s, rejected %d" % (code, s.rejected))
    finally:
        s.kill()


def session_server_gone(jar, args):
    """The server goes away for good: the driver re-dials until the idle timeout, then exits."""
    srv = Server()
    s = DriverSession(srv, 6, "sql", "local[1]", jar, log_dir=args.log_dir,
                      extra_conf=("spark.livy.server.idle-timeout=5s",))
    try:
        idle = s.wait_state("idle")
        if not check("server gone: driver idle first", idle, "" if idle else s.tail()):
            return
        srv.close()
        s.drop_connection()
        t = time.time()
        try:
            code = s.proc.wait(90)
        except subprocess.TimeoutExpired:
            code = None
        took = time.time() - t
        check("server gone -> driver exits non-zero after idle-timeout (5 s)",
              code not in (None, 0) and 4 <= took < 30, "exit %s after %.1f s" % (code, took))
    finally:
        s.kill()


def session_python_broken(server, jar, args):
    """A pyspark session whose Python cannot start: state error, Livy's InterpreterError."""
    s = DriverSession(server, 7, "pyspark", "local[1]", jar, log_dir=args.log_dir,
                      extra_conf=("spark.pyspark.driver.python=/nonexistent/python3",))
    try:
        if not s.wait_hello():
            check("broken python: hello", False, s.tail())
            return
        err = s.wait_state("error", 120)
        check("broken python: driver reports state error", err, [m for _, m in s.events])
        ev, _ = s.run("pyspark", "1 + 1")
        out = (ev or {}).get("output", {})
        check("broken python: statement -> InterpreterError / Fail to start interpreter",
              out.get("ename") == "InterpreterError" and out.get("evalue") == "Fail to start interpreter", ev)
        ev, _ = s.run("sql", "SELECT 2 AS b")
        check("broken python: sql still works",
              ev and ev["output"]["status"] == "ok" and ev["output"]["data"]["application/json"]["data"] == [[2]], ev)
        check("broken python: shutdown -> exit 0", s.shutdown() == 0)
    finally:
        s.kill()


# ------------------------------------------------------------------ standalone

class Standalone(object):
    def __init__(self, work):
        self.work = work
        env = spark_env()
        cls = os.path.join(SPARK_HOME, "bin", "spark-class")
        self.logs = [open(os.path.join(work, n), "wb") for n in ("master.log", "worker.log")]
        self.master = subprocess.Popen([cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                        "--port", "7077", "--webui-port", "8080"],
                                       env=env, stdout=self.logs[0], stderr=subprocess.STDOUT)
        time.sleep(1)
        self.worker = subprocess.Popen([cls, "org.apache.spark.deploy.worker.Worker", "spark://127.0.0.1:7077",
                                        "--webui-port", "8081", "--cores", "2", "--memory", "2g",
                                        "--work-dir", os.path.join(work, "worker")],
                                       env=env, stdout=self.logs[1], stderr=subprocess.STDOUT)

    def wait_worker(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8080/json/", timeout=2) as r:
                    if json.load(r).get("aliveworkers", 0) >= 1:
                        return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    def stop(self):
        for p in (self.worker, self.master):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def session_standalone(server, jar, args):
    work = tempfile.mkdtemp(prefix="livy-standalone-")
    cluster = Standalone(work)
    try:
        if not check("standalone: master + worker up", cluster.wait_worker(), work):
            return
        for sid, kind in ((4, "spark"), (5, "pyspark")):
            s = DriverSession(server, sid, kind, "spark://127.0.0.1:7077", jar, log_dir=args.log_dir,
                              extra_conf=("spark.executor.memory=1g", "spark.cores.max=2"), user_jars=[args.user_jar])
            try:
                if not check_startup(s, "standalone %s" % kind):
                    continue
                ev, _ = s.run("spark", PI_SCALA, timeout=300)
                check("standalone %s session: scala pi on executors -> 'Pi is roughly'" % kind,
                      "Pi is roughly" in (text_of(ev) or ""), ev)
                ev, _ = s.run("spark", "case class Q(x: Int)\nsc.parallelize(1 to 4, 2).map(Q(_)).collect().map(_.x).sum")
                check("standalone %s session: REPL case class through executors" % kind,
                      "Int = 10" in (text_of(ev) or ""), ev)
                ev, _ = s.run("spark", "case class R(a: Int)\nSeq(R(1), R(2)).toDS().map(r => r.a * 2).collect().sum")
                check("standalone %s session: Dataset of a REPL case class" % kind, "Int = 6" in (text_of(ev) or ""), ev)
                ev, _ = s.run("spark", "sc.parallelize(1 to 2, 2).map(_ => smoke.Greeter.hello()).collect().mkString(\",\")")
                check("standalone %s session: --jars class inside executor closures" % kind,
                      "hi from jar,hi from jar" in (text_of(ev) or ""), ev)
                if kind == "pyspark":
                    ev, _ = s.run("pyspark", PI_PYTHON, timeout=300)
                    check("standalone pyspark session: python pi", (text_of(ev) or "").startswith("Pi is roughly"), ev)
                check("standalone %s session: shutdown -> exit 0" % kind, s.shutdown() == 0)
            finally:
                s.kill()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ perf

BARE = """import time, sys
t0 = float(sys.argv[1])
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[2]").appName("bare").getOrCreate()
print("READY %.3f" % (time.time() - t0), flush=True)
spark.stop()
"""


def perf(server, jar, args):
    bare, py, sc = [], [], []
    for i in range(args.perf):
        t0 = time.time()
        out = subprocess.run([VENV_PY, "-c", BARE, repr(t0)], env=spark_env(), capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("READY")]
        if line:
            bare.append(float(line[0].split()[1]))
        for kind, acc in (("pyspark", py), ("spark", sc)):
            s = DriverSession(server, 100 + i * 2 + (kind == "spark"), kind, "local[2]", jar, log_dir=args.log_dir)
            try:
                idle = s.wait_state("idle")
                if idle:
                    acc.append(idle[0] - s.t0)
                s.shutdown()
            finally:
                s.kill()
    if bare and py:
        mb, mp = statistics.median(bare), statistics.median(py)
        print("TIMING bare pyspark getOrCreate: %s -> median %.2f s" % (["%.2f" % x for x in bare], mb))
        print("TIMING pyspark session spawn->idle: %s -> median %.2f s (%.2fx)" % (["%.2f" % x for x in py], mp, mp / mb))
        if sc:
            print("TIMING spark session spawn->idle: %s -> median %.2f s" % (["%.2f" % x for x in sc], statistics.median(sc)))
        check("pyspark session start within 1.10x of a bare PySpark session", mp <= 1.10 * mb, "%.2fx" % (mp / mb))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", help="use this driver jar instead of building one")
    ap.add_argument("--no-standalone", action="store_true")
    ap.add_argument("--only", choices=["shared", "pyspark", "failures", "standalone", "perf"])
    ap.add_argument("--perf", type=int, default=0, help="startup timing runs (0 = skip)")
    ap.add_argument("--log-dir", default=tempfile.mkdtemp(prefix="livy-driver-smoke-"))
    args = ap.parse_args()
    os.makedirs(args.log_dir, exist_ok=True)

    jar = args.jar
    if not jar:
        t = time.time()
        out = subprocess.run([os.path.join(HERE, "build.sh")], env=spark_env(), capture_output=True, text=True)
        if not check("build.sh compiles the driver", out.returncode == 0, out.stderr[-2000:]):
            return 1
        jar = out.stdout.strip().splitlines()[-1]
        print("TIMING build: %.1f s" % (time.time() - t))
    print("driver logs in %s" % args.log_dir)
    args.user_jar = user_jar(tempfile.mkdtemp(prefix="livy-user-jar-"))

    server = Server()
    timings = {}
    if args.only in (None, "shared"):
        timings.update(session_shared(server, jar, args))
    if args.only in (None, "pyspark"):
        timings.update(session_pyspark(server, jar, args))
    if args.only in (None, "failures"):
        session_bad_secret(server, jar, args)
        session_server_gone(jar, args)
        session_python_broken(server, jar, args)
    if args.only in (None, "standalone") and not args.no_standalone:
        session_standalone(server, jar, args)
    if args.perf and args.only in (None, "perf"):
        perf(server, jar, args)
    for k, v in sorted(timings.items()):
        print("TIMING %s: %.3f" % (k, v))
    failed = [n for n, ok in RESULTS if not ok]
    print("%d checks, %d failed" % (len(RESULTS), len(failed)))
    for n in failed:
        print("  failed: %s" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
