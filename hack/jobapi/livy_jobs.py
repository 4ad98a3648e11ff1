"""A small Python client for Livy's programmatic job API, written from Livy's
documented protocol (there is no published Python job client). It speaks the
wire of Livy's own python-api (livy/client.py and job_handle.py, 0.8.0):

* create: POST <url>/sessions/ (trailing slash) with {"kind": "pyspark",
  "conf": {...}}, conf keys lower-cased (Livy's client reads them through
  ConfigParser) and "livy.uri" among them;
* jobs may be sent at once, before the session is idle;
* POST /sessions/{id}/submit-job or /run-job with {"job": base64(cloudpickle
  of a function of one argument, the job context), "jobType": "pyspark"}; the
  answer's "id" is polled with GET /sessions/{id}/jobs/{jid} until SUCCEEDED,
  FAILED or CANCELLED (every 0.1 s, doubling up to 5 s); a result is
  base64(base64(pickle)): decoded twice, then unpickled;
* POST /sessions/{id}/jobs/{jid}/cancel (Livy's Python client calls a method it
  lacks there; this one sends the request);
* upload_file / upload_pyfile: multipart part "file" to /upload-file and
  /upload-pyfile; add_file / add_pyfile / add_jar: {"uri": ...};
* re-attach: a URL ending in /sessions/{id} POSTs /sessions/{id}/connect;
* stop(True): DELETE /sessions/{id};
* every call carries X-Requested-By: livy and a 10 s timeout; any 2xx is success.

Needs requests and cloudpickle.
"""
import base64
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import cloudpickle
import requests

TIMEOUT = 10
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class LivyHttpError(Exception):
    """A call the server did not answer with 2xx."""

    def __init__(self, method, url, status, body):
        super().__init__(f"{method} {url}: HTTP {status}: {body}")
        self.status = status
        self.body = body


class JobFailed(Exception):
    """The job raised on the driver; the text is the server's error (a traceback)."""


class HttpClient:
    """A job client on one session: a new one (`url` is the server), or an
    existing one (`url` ends in /sessions/{id})."""

    def __init__(self, url, conf=None, poll_initial=0.1, poll_max=5.0):
        parts = urlsplit(url)
        self._poll = (poll_initial, poll_max)
        self._http = requests.Session()
        self._lock = threading.Lock()
        # One worker, so uploads, adds and jobs reach the server in the order given.
        self._executor = ThreadPoolExecutor(max_workers=1)
        self._stopped = False
        m = re.match(r"(.*)/sessions/([0-9]+)/?$", parts.path)
        if m:
            base = urlunsplit(parts._replace(path=m.group(1)))
            self._prefix = base.rstrip("/") + "/sessions"
            self.session_id = int(m.group(2))
            self._send("POST", f"/{self.session_id}/connect", headers=JSON)
        else:
            base = urlunsplit(parts).rstrip("/")
            self._prefix = base + "/sessions"
            settings = {"livy.uri": base}
            settings.update({str(k).lower(): str(v) for k, v in (conf or {}).items()})
            r = self._send("POST", "/", headers=JSON, json={"kind": "pyspark", "conf": settings})
            self.session_id = r.json()["id"]

    def _send(self, method, suffix, headers=None, json=None, files=None):
        url = self._prefix + suffix
        h = {"X-Requested-By": "livy"}
        h.update(headers or {})
        with self._lock:
            r = self._http.request(method, url, headers=h, json=json, files=files,
                                   timeout=TIMEOUT)
        if r.status_code // 100 != 2:
            raise LivyHttpError(method, url, r.status_code, r.text)
        return r

    def submit(self, job):
        """Queues `job` (a function of the job context) on the session: a JobHandle."""
        return self._send_job("submit-job", job)

    def run(self, job):
        """Runs `job` at once on the driver, outside the job queue: a JobHandle."""
        return self._send_job("run-job", job)

    def _send_job(self, command, job):
        handle = JobHandle(self, self._poll)
        body = {"job": base64.b64encode(cloudpickle.dumps(job)).decode("ascii"),
                "jobType": "pyspark"}
        self._executor.submit(handle._start, f"/{self.session_id}/{command}", body)
        return handle

    def upload_file(self, path):
        """Sends a local file to the session (SparkContext.addFile): a Future."""
        return self._upload("upload-file", path)

    def upload_pyfile(self, path):
        """Sends a local .py/.zip/.egg to the session (SparkContext.addPyFile): a Future."""
        return self._upload("upload-pyfile", path)

    def _upload(self, command, path):
        def send():
            with open(path, "rb") as f:
                files = {"file": (os.path.basename(path), f)}
                return self._send("POST", f"/{self.session_id}/{command}", files=files).content
        return self._executor.submit(send)

    def add_file(self, uri):
        """Adds a file the driver can reach by URI: a Future."""
        return self._add("add-file", uri)

    def add_pyfile(self, uri):
        """Adds a .py/.zip/.egg the driver can reach by URI: a Future."""
        return self._add("add-pyfile", uri)

    def add_jar(self, uri):
        """Adds a jar the driver can reach by URI: a Future."""
        return self._add("add-jar", uri)

    def _add(self, command, uri):
        return self._executor.submit(
            lambda: self._send("POST", f"/{self.session_id}/{command}", headers=JSON,
                               json={"uri": uri}).content)

    def stop(self, shutdown_context):
        """Stops using the session; deletes it if `shutdown_context`."""
        if self._stopped:
            return
        self._stopped = True
        self._executor.shutdown(wait=False)
        if shutdown_context:
            self._send("DELETE", f"/{self.session_id}")
        self._http.close()


class JobHandle(Future):
    """A job on the session. result() returns the job's value, raises JobFailed
    with the server's error text, or CancelledError once the server says
    CANCELLED. `state` is the last state seen (SENT, QUEUED, STARTED, ...)."""

    def __init__(self, client, poll):
        super().__init__()
        self._client = client
        self._poll = poll
        self._cond = threading.Condition()
        self.job_id = None
        self.state = "SENT"
        self._cancel_pending = False

    def _start(self, suffix, body):
        try:
            status = self._client._send("POST", suffix, headers=JSON, json=body).json()
        except Exception as e:  # noqa: BLE001 - handed to whoever waits on the handle
            super().set_exception(e)
            return
        with self._cond:
            self.job_id = status["id"]
            cancel = self._cancel_pending
        if cancel:
            self._send_cancel()
        threading.Thread(target=self._poll_until_done, daemon=True,
                         name=f"livy-job-{self.job_id}").start()

    def _poll_until_done(self):
        interval, most = self._poll
        sid = self._client.session_id
        while True:
            with self._cond:
                self._cond.wait(interval)
            try:
                status = self._client._send("GET", f"/{sid}/jobs/{self.job_id}",
                                            headers={"Accept": "application/json"}).json()
            except Exception as e:  # noqa: BLE001
                super().set_exception(e)
                return
            self.state = status["state"]
            if self.state == "SUCCEEDED":
                super().set_result(decode_result(status.get("result")))
                return
            if self.state == "FAILED":
                super().set_exception(JobFailed(status.get("error")))
                return
            if self.state == "CANCELLED":
                super().cancel()
                return
            interval = min(interval * 2, most)

    def cancel(self):
        """Asks the server to cancel the job; False if it is already done."""
        if self.done():
            return False
        with self._cond:
            self._cancel_pending = True
            known = self.job_id is not None
            # Poll again soon: the answer to a cancel is a state to see.
            self._cond.notify_all()
        if known:
            self._send_cancel()
        return True

    def _send_cancel(self):
        sid = self._client.session_id
        self._client._send("POST", f"/{sid}/jobs/{self.job_id}/cancel", headers=JSON)


def decode_result(result):
    """A job's result as the server sends it: base64 of base64 of a pickle."""
    if result is None:
        return None
    return cloudpickle.loads(base64.b64decode(base64.b64decode(result)))
