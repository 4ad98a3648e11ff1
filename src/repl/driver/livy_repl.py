"""Python side of livy-server's REPL driver: one long-lived child per interactive session.

The JVM driver (LivyReplDriver) starts this script with PYSPARK_GATEWAY_PORT/SECRET pointing at
a py4j ClientServer inside the driver JVM. The script wraps that JVM's SparkContext (it never
creates a second one), binds `spark`, `sc` and `sqlContext`, and runs statements.

Control channel: JSON lines on stdin (from the JVM) and on the ORIGINAL stdout (to the JVM).
File descriptor 1 is then pointed at stderr, so stray native writes land in the session log
instead of corrupting the channel.
  in:  {"op":"execute","id","code","group","next_group"} {"op":"cancel","id"} {"op":"complete","req","code","cursor"}
       {"op":"job","req","id","group","job"} {"op":"add_pyfile","req","path"} {"op":"shutdown"}
  out: {"op":"ready"} {"op":"init_error","error"} {"op":"result","id","output"}
       {"op":"completion","req","candidates"} {"op":"reply","req","result"|"error"}

Statements run on the main thread (so SIGINT can interrupt them); a reader thread takes the
control messages, so cancel and completion are answered while a statement runs.
"""

import ast
import base64
import builtins
import datetime
import decimal
import io
import json
import linecache
import os
import queue
import re
import signal
import sys
import threading
import time
import traceback
import types

_ctrl_out = None
_out_lock = threading.Lock()


def send(msg):
    line = (json.dumps(msg, allow_nan=False) + "\n").encode("utf-8")
    with _out_lock:
        _ctrl_out.write(line)
        _ctrl_out.flush()


def log(msg):
    sys.__stderr__.write("livy_repl: %s\n" % msg)
    sys.__stderr__.flush()


def _warning_to_log(message, category, filename, lineno, file=None, line=None):
    """Python warnings are diagnostics, not output: they go to the session log.

    PySpark 4 warns on DataFrame.toJSON, which sparkmagic's and pylivy's
    DataFrame flows call and then parse the statement's text line by line.
    """
    import warnings
    try:
        text = warnings.formatwarning(message, category, filename, lineno, line)
    except Exception:
        text = "%s: %s\n" % (category.__name__, message)
    sys.__stderr__.write(text)
    sys.__stderr__.flush()


# ---------------------------------------------------------------- cancel

class _Exec(object):
    """What the main thread is doing; read by the SIGINT handler and the reader thread."""
    group = None  # Spark job group set on this thread's pinned JVM thread
    sid = None  # statement being executed
    in_user_code = False  # True only around the user's own code
    armed = False  # a cancel asked for a KeyboardInterrupt that was not raised yet


def _on_sigint(signum, frame):
    # Our own handler: PySpark's default one would cancel every job of the shared context.
    if not (_Exec.in_user_code and _Exec.armed):
        return
    f = frame
    while f is not None:
        name = f.f_globals.get("__name__", "")
        if name == "py4j" or name.startswith("py4j."):
            # Waiting on the JVM (a Spark job, usually): the job-group cancel ends that wait,
            # and breaking the py4j protocol mid-call would leave its connection unusable.
            return
        f = f.f_back
    _Exec.armed = False
    raise KeyboardInterrupt()


def _request_cancel(sid):
    # The JVM repeats this every 100 ms until the statement ends.
    if _Exec.sid == sid and _Exec.in_user_code:
        _Exec.armed = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


# ---------------------------------------------------------------- spark

def _import_pyspark():
    """Prefer an installed pyspark of the JVM's version (fast: cached bytecode), else Spark's zips."""
    want = os.environ.get("LIVY_SPARK_VERSION")
    zips = [p for p in os.environ.get("LIVY_PYSPARK_ZIPS", "").split(os.pathsep) if p]
    try:
        import pyspark
        ok = not want or pyspark.__version__ == want
    except ImportError:
        ok = False
    if not ok and zips:
        for name in list(sys.modules):
            if name.split(".")[0] in ("pyspark", "py4j"):
                del sys.modules[name]
        sys.path[0:0] = zips
        import pyspark  # noqa: F401


def init_spark():
    _import_pyspark()
    from pyspark.conf import SparkConf
    from pyspark.context import SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession, SQLContext

    gateway = launch_gateway()  # connects to the JVM's gateway (PYSPARK_GATEWAY_PORT)
    entry = gateway.entry_point
    jsc = entry.javaSparkContext()  # blocks in the JVM until its SparkContext exists
    sc = SparkContext(gateway=gateway, jsc=jsc, conf=SparkConf(_jconf=jsc.getConf()))
    spark = SparkSession(sc, jsparkSession=entry.sparkSession())
    sql_context = SQLContext(sc, spark)

    # User code runs in a fresh __main__ module: cloudpickle ships its functions by value, and
    # plain pickle finds its classes.
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "spark": spark, "sc": sc, "sqlContext": sql_context})
    sys.modules["__main__"] = main
    return main.__dict__, sc


# ---------------------------------------------------------------- statements

class _UserError(Exception):
    def __init__(self, exc_info):
        Exception.__init__(self)
        self.exc_info = exc_info


def _run_tree(tree, ns):
    """exec the body, eval a trailing expression; returns repr of its value or None."""
    body, last = tree.body, None
    if body and isinstance(body[-1], ast.Expr):
        body, last = body[:-1], body[-1]
    try:
        _Exec.in_user_code = True
        try:
            if body:
                exec(compile(ast.Module(body=body, type_ignores=[]), "<stdin>", "exec"), ns)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<stdin>", "eval"), ns)
                if value is not None:
                    ns["_"] = value
                    return repr(value)
        finally:
            _Exec.in_user_code = False
            _Exec.armed = False
    except BaseException:
        raise _UserError(sys.exc_info())
    return None


_MAGIC = re.compile(r"^%(\w*)\s*(.*)$")


def _chunks(code):
    """Python that does not parse may hold magic lines: split it into code and magic chunks."""
    try:
        return [("py", ast.parse(code, "<stdin>", "exec"))]
    except SyntaxError:
        if not any(line.startswith("%") for line in code.split("\n")):
            raise
    chunks, pending = [], []
    for line in code.rstrip().split("\n"):
        if line.startswith("%"):
            if pending:
                chunks.append(("py", ast.parse("\n".join(pending), "<stdin>", "exec")))
                pending = []
            m = _MAGIC.match(line)
            chunks.append(("magic", (m.group(1), m.group(2).strip())))
        else:
            pending.append(line)
    if pending:
        chunks.append(("py", ast.parse("\n".join(pending), "<stdin>", "exec")))
    return chunks


def set_job_group(sc, group):
    """Sets the job group of this thread's Spark jobs (one py4j round trip) unless it is set."""
    if group and group != _Exec.group:
        sc.setJobGroup(group, "Livy python statement", True)
        _Exec.group = group


def execute(sid, code, ns, sc, group=None):
    # One buffer for both streams: what the code prints keeps its order.
    printed = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = printed
    _Exec.sid = sid
    try:
        # On this thread's pinned JVM thread: the statement's jobs join its group
        # (usually set ahead, after the previous statement).
        set_job_group(sc, group)
        try:
            # Tracebacks show the statement's own lines, as in a notebook.
            linecache.cache["<stdin>"] = (len(code), None, code.splitlines(True), "<stdin>")
            chunks = _chunks(code)
        except SyntaxError:
            return _error(*sys.exc_info(), with_tb=False)
        result, shown = None, None
        for i, (kind, item) in enumerate(chunks):
            if kind == "py":
                result = None
                shown = _run_tree(item, ns)
                # As in Livy, only the cell's final expression is displayed:
                # `plt.plot(...)` before `%matplot plt` adds no text.
                if i < len(chunks) - 1:
                    shown = None
            else:
                shown = None
                result = _run_magic(item[0], item[1], ns)
                if result.get("status") == "error":
                    return result
        data = dict(result or {})
        # A magic that names text/plain (matplot: "") keeps it, as in Livy.
        magic_text = "text/plain" in data
        text = data.pop("text/plain", "") + printed.getvalue()
        if shown is not None:
            text += shown
        text = text.rstrip()
        if text or not data or magic_text:
            data["text/plain"] = text
        return {"status": "ok", "data": data}
    except _UserError as e:
        return _error(*e.exc_info)
    finally:
        sys.stdout, sys.stderr = saved
        _Exec.sid = None


def _error(etype, evalue, tb, with_tb=True):
    # Drop our own frames: the traceback starts at the user's code ("<stdin>").
    while tb is not None and tb.tb_frame.f_code.co_filename != "<stdin>":
        tb = tb.tb_next
    if with_tb and tb is not None:
        lines = traceback.format_exception(etype, evalue, tb)
    else:
        lines = traceback.format_exception_only(etype, evalue)
    return {"status": "error", "ename": etype.__name__, "evalue": str(evalue), "traceback": lines}


def _plain_error(ename, evalue):
    return {"status": "error", "ename": ename, "evalue": evalue, "traceback": []}


# ---------------------------------------------------------------- magics

def _run_magic(name, arg, ns):
    handler = _MAGICS.get(name)
    if handler is None:
        return _plain_error("UnknownMagic", "unknown magic command '%s'" % name)
    if arg not in ns:
        return _plain_error("NameError", "name '%s' is not defined" % arg)
    try:
        return handler(ns[arg])
    except Exception as e:
        return _plain_error(type(e).__name__, str(e))


def _magic_json(value):
    json.dumps(value, allow_nan=False)  # raises for what JSON cannot carry
    return {"application/json": value}


def _magic_matplot(plt):
    # Only meaningful with matplotlib installed; the JVM sets MPLBACKEND=Agg (no display).
    buf = io.BytesIO()
    plt.gcf().savefig(buf, format="png")
    return {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": ""}


class _TableTypeError(Exception):
    pass


def _cell(value):
    """(Livy table type, JSON value) for one cell."""
    t = type(value)
    if value is None:
        return "NULL_TYPE", None
    if t is bool:
        return "BOOLEAN_TYPE", value
    if t is int:
        return "INT_TYPE", value
    if t is float:
        return "DOUBLE_TYPE", value
    if t is datetime.datetime:
        return "TIMESTAMP_TYPE", str(value)
    if t is datetime.date:
        return "DATE_TYPE", str(value)
    if t is decimal.Decimal:
        return "DECIMAL_TYPE", str(value)
    if t in (list, tuple):
        types_ = set()
        items = []
        for item in value:
            it, iv = _cell(item)
            types_.add(it)
            items.append(iv)
        if len(types_) > 1:
            raise _TableTypeError()
        return "ARRAY_TYPE", items
    if t is dict:
        types_ = set()
        items = {}
        for k, v in value.items():
            vt, vv = _cell(v)
            types_.add(vt)
            items[str(k)] = vv
        if len(types_) > 1:
            raise _TableTypeError()
        return "MAP_TYPE", items
    return "STRING_TYPE", str(value)


def _magic_table(value):
    rows = value if isinstance(value, (list, tuple)) else [value]
    headers, data = {}, []
    try:
        for row in rows:
            if type(row).__name__ == "Row":
                row = row.asDict()
            if not isinstance(row, (list, tuple, dict)):
                row = [row]
            items = sorted(row.items()) if isinstance(row, dict) else enumerate(row)
            cols = []
            for name, col in items:
                ctype, cval = _cell(col)
                header = headers.get(name)
                if header is None:
                    headers[name] = {"name": str(name), "type": ctype}
                elif ctype != "NULL_TYPE" and header["type"] != ctype:
                    if header["type"] != "NULL_TYPE":
                        raise _TableTypeError()
                    header["type"] = ctype
                cols.append(cval)
            data.append(cols)
    except _TableTypeError:
        return _plain_error("Exception", "table rows have different types")
    return {
        "application/vnd.livy.table.v1+json": {
            "headers": [h for _, h in sorted(headers.items(), key=lambda kv: str(kv[0]))],
            "data": data,
        }
    }


_MAGICS = {"json": _magic_json, "table": _magic_table, "matplot": _magic_matplot}


# ---------------------------------------------------------------- completion

def complete(ns, code, cursor):
    import rlcompleter
    token = re.search(r"[\w.]*$", code[:cursor]).group(0)
    if not token:
        return []
    completer = rlcompleter.Completer(ns)
    found = []
    try:
        for i in range(1000):
            c = completer.complete(token, i)
            if c is None:
                break
            if c not in found:
                found.append(c)
    except Exception:
        pass
    return found


# ---------------------------------------------------------------- Livy's Job API

def _cloudpickle():
    """cloudpickle as clients pickle with: the installed one, else PySpark's copy under its name.

    A cloudpickled function refers to cloudpickle's own helpers by module name, so PySpark's
    copy (pyspark.cloudpickle) stands in for a missing `cloudpickle` module.
    """
    try:
        import cloudpickle
        return cloudpickle
    except ImportError:
        from pyspark import cloudpickle
        sys.modules["cloudpickle"] = cloudpickle
        sys.modules["cloudpickle.cloudpickle"] = cloudpickle.cloudpickle
        return cloudpickle


class JobContext(object):
    """What a Python job is called with, as in Livy: `sc`, `spark_session`, `sql_ctx`,
    `local_tmp_dir_path`, and shared objects that live as long as the session."""

    _shared = {}

    def __init__(self, ns):
        self.sc = ns["sc"]
        self.spark_session = ns["spark"]
        self.sql_ctx = ns["sqlContext"]
        self.hive_ctx = None
        self.streaming_ctx = None
        self.local_tmp_dir_path = _local_tmp_dir()

    def get_shared_object(self, name):
        return JobContext._shared.get(name)

    def set_shared_object(self, name, value):
        JobContext._shared[name] = value

    def remove_shared_object(self, name):
        JobContext._shared.pop(name, None)

    def create_streaming_ctx(self, batch_duration):
        from pyspark.streaming import StreamingContext
        if self.streaming_ctx is not None:
            raise ValueError("Streaming context already exists")
        self.streaming_ctx = StreamingContext(self.sc, batch_duration)

    def stop_streaming_ctx(self):
        if self.streaming_ctx is None:
            raise ValueError("Cannot stop streaming context. Streaming context is None")
        self.streaming_ctx.stop()
        self.streaming_ctx = None


def _local_tmp_dir():
    import tempfile
    path = os.path.join(tempfile.gettempdir(), "livy-jobs-%d" % os.getpid())
    os.makedirs(path, exist_ok=True)
    return path


def _job_api(msg, ns, sc):
    """A Python job (its base64 cloudpickled result, or its traceback) or a Python file to add."""
    try:
        if msg.get("op") == "add_pyfile":
            sc.addPyFile(msg["path"])
            return {}
        set_job_group(sc, msg.get("group"))
        pickler = _cloudpickle()
        job = pickler.loads(base64.b64decode(msg["job"]))
        result = job(JobContext(ns))
        return {"result": base64.b64encode(pickler.dumps(result)).decode("ascii")}
    except BaseException:
        return {"error": traceback.format_exc()}


# ---------------------------------------------------------------- main

def _reader(ctrl_in, requests, ns):
    for raw in ctrl_in:
        try:
            msg = json.loads(raw)
        except ValueError:
            log("bad control line: %r" % raw[:200])
            continue
        op = msg.get("op")
        if op in ("execute", "job", "add_pyfile"):
            requests.put(msg)
        elif op == "cancel":
            _request_cancel(msg.get("id"))
        elif op == "complete":
            try:
                cands = complete(ns, msg.get("code", ""), int(msg.get("cursor", 0)))
            except Exception:
                cands = []
            send({"op": "completion", "req": msg.get("req"), "candidates": cands})
        elif op == "shutdown":
            requests.put(None)
    os._exit(0)  # the JVM is gone


def main():
    global _ctrl_out
    t0 = time.time()
    # Java's ProcessBuilder before JDK 20 (JDK-8234262) starts us with the JVM thread's mask,
    # SIGQUIT blocked; clear it before any thread starts, for us and what user code starts.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    ctrl_in = os.fdopen(os.dup(0), "rb")
    _ctrl_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # user code reading stdin gets EOF, not our control messages
    sys.stdin = io.StringIO()

    import warnings
    warnings.showwarning = _warning_to_log
    try:
        ns, sc = init_spark()
    except BaseException:
        send({"op": "init_error", "error": traceback.format_exc()})
        return 1
    signal.signal(signal.SIGINT, _on_sigint)  # after SparkContext, which installs its own
    requests = queue.Queue()
    threading.Thread(target=_reader, args=(ctrl_in, requests, ns), name="livy-control", daemon=True).start()
    send({"op": "ready"})
    log("ready in %.2f s" % (time.time() - t0))

    while True:
        msg = requests.get()
        if msg is None:
            break
        if msg.get("op") != "execute":
            send(dict(_job_api(msg, ns, sc), op="reply", req=msg.get("req")))
            continue
        sid = msg.get("id")
        try:
            output = execute(sid, msg.get("code", ""), ns, sc, msg.get("group"))
        except BaseException as e:  # a late KeyboardInterrupt or a bug of ours
            output = _plain_error(type(e).__name__, str(e))
        try:
            send({"op": "result", "id": sid, "output": output})
        except (TypeError, ValueError) as e:  # e.g. NaN in a %json value
            send({"op": "result", "id": sid, "output": _plain_error(type(e).__name__, str(e))})
        # Ahead of the next statement, while the answer travels to the client.
        try:
            set_job_group(sc, msg.get("next_group"))
        except Exception as e:
            _Exec.group = None
            log("cannot set the next job group: %s" % e)
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main() or 0)
