#!/usr/bin/env python3
"""Python jobs through hack/jobapi/livy_jobs.py (Livy's job wire protocol)
against a server. Usage (with the project's .venv):

    .venv/bin/python hack/jobapi/python-examples.py URL WORKDIR

WORKDIR receives the files it uploads. Prints one JSON line per example:

    {"example": "session", "id": N}
    {"example": "numbers", "value": [100, 200, 300, 400]}   sent before the session is idle
    {"example": "upload_file", "value": [7, 14, 21]}        SparkFiles.get in rdd.map
    {"example": "upload_pyfile", "value": [3, 6, 9]}        a module imported in rdd.map
    {"example": "failing", "error": "...ZeroDivisionError..."}
    {"example": "sql", "value": [1000, 499500]}             ctx.spark_session
    {"example": "run", "value": "pong"}                     run-job
    {"example": "shared", "value": "forty-two"}             set/get_shared_object
    {"example": "connect", "value": "forty-two"}            a second client on /sessions/{id}

Exits 0 once it ran to the end (the caller judges the values), 1 on anything
unexpected (traceback on stderr). JOBAPI_TIMEOUT_S (300) bounds each wait.
"""
import json
import os
import sys
import traceback

from livy_jobs import HttpClient, JobFailed

TIMEOUT = float(os.environ.get("JOBAPI_TIMEOUT_S", "300"))
FACTOR_FILE = "livy-jobapi-factor.txt"
HELPER_MODULE = "livy_jobapi_helper"


def emit(example, **fields):
    print(json.dumps({"example": example, **fields}), flush=True)


# The jobs: functions of the job context, pickled by value (this is __main__).

def numbers(ctx):
    return ctx.sc.parallelize([1, 2, 3, 4]).map(lambda x: x * 100).collect()


def times_factor(ctx):
    def scale(x):
        from pyspark import SparkFiles
        with open(SparkFiles.get(FACTOR_FILE)) as f:
            return x * int(f.read().strip())
    return ctx.sc.parallelize([1, 2, 3], 3).map(scale).collect()


def with_helper(ctx):
    def triple(x):
        import livy_jobapi_helper
        return livy_jobapi_helper.triple(x)
    return ctx.sc.parallelize([1, 2, 3], 3).map(triple).collect()


def divide_by_zero(ctx):
    return 1 / 0


def sql(ctx):
    row = ctx.spark_session.sql("SELECT count(*) AS n, sum(id) AS total FROM range(1000)").first()
    return [row[0], row[1]]


def pong(ctx):
    return "pong"


def set_shared(ctx):
    ctx.set_shared_object("livy-jobapi-answer", "forty-two")
    return True


def get_shared(ctx):
    return ctx.get_shared_object("livy-jobapi-answer")


def main(url, workdir):
    os.makedirs(workdir, exist_ok=True)
    factor = os.path.join(workdir, FACTOR_FILE)
    with open(factor, "w") as f:
        f.write("7\n")
    helper = os.path.join(workdir, HELPER_MODULE + ".py")
    with open(helper, "w") as f:
        f.write("def triple(x):\n    return 3 * x\n")

    # A conf key with capitals: Livy's client sends it lower-cased.
    client = HttpClient(url, conf={"spark.livyJobapi.Example": "python"})
    stopped = False
    try:
        emit("session", id=client.session_id)
        # Sent at once, while the session is still starting.
        emit("numbers", value=client.submit(numbers).result(TIMEOUT))

        client.upload_file(factor).result(TIMEOUT)
        emit("upload_file", value=client.submit(times_factor).result(TIMEOUT))

        client.upload_pyfile(helper).result(TIMEOUT)
        emit("upload_pyfile", value=client.submit(with_helper).result(TIMEOUT))

        try:
            emit("failing", value=client.submit(divide_by_zero).result(TIMEOUT))
        except JobFailed as e:
            emit("failing", error=str(e))

        emit("sql", value=client.submit(sql).result(TIMEOUT))
        emit("run", value=client.run(pong).result(TIMEOUT))

        client.submit(set_shared).result(TIMEOUT)
        emit("shared", value=client.submit(get_shared).result(TIMEOUT))

        again = HttpClient(f"{url.rstrip('/')}/sessions/{client.session_id}")
        try:
            emit("connect", value=again.submit(get_shared).result(TIMEOUT))
        finally:
            again.stop(False)

        client.stop(True)
        stopped = True
    finally:
        if not stopped:
            try:
                client.stop(True)
            except Exception as e:  # noqa: BLE001 - the first failure is the one to report
                print(f"python-examples: stopping the client after a failure: {e}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python-examples.py URL WORKDIR")
    try:
        main(sys.argv[1], sys.argv[2])
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        sys.exit(1)
