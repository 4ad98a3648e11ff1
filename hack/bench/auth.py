#!/usr/bin/env python3
"""Cost of authentication on the hottest read, measured in one run against two
servers started here, each with one idle `pyspark` session:

  OFF: no authentication (the baseline);
  ON:  livy.server.auth.type=basic (the built-in users file, Argon2id hashes).

On ON, two client behaviours:
  * cookie: the client sends Basic once, then only the signed `hadoop.auth`
    cookie it got back (what requests sessions, sparkmagic and curl -b do);
  * basic-cached: the client sends Basic credentials on every request and
    ignores the cookie; the server's password cache answers after the first.
Kerberos and LDAP clients reach the same cookie path after their first request.

Printed: GET /sessions/{id} throughput (requests/s, THREADS keep-alive
connections in parallel) and single-connection p50, each as a ratio to OFF,
measured in interleaved rounds. Target: >= 0.8x for cookie and cached requests.

Usage: hack/bench/auth.sh [requests per round and thread] [rounds]
"""
import base64, http.client, json, os, statistics, subprocess, sys, tempfile, threading, time

from benchlib import BIN, idle_session, start_server

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
THREADS = 4
BASIC = "Basic " + base64.b64encode(b"alice:alice-password").decode()


class Client:
    """One keep-alive connection; `mode` is off, cookie or basic."""

    def __init__(self, port, mode):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.mode = mode
        self.cookie = None

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.mode == "basic" or (self.mode == "cookie" and self.cookie is None):
            headers["Authorization"] = BASIC
        elif self.mode == "cookie":
            headers["Cookie"] = self.cookie
        data = json.dumps(body) if body is not None else None
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        if r.status >= 300:
            sys.exit(f"{method} {path}: {r.status} {raw[:200]!r}")
        set_cookie = r.getheader("Set-Cookie")
        if self.mode == "cookie" and set_cookie and self.cookie is None:
            self.cookie = set_cookie.split(";")[0]
        return json.loads(raw or b"null")


def latencies(port, mode, path, n):
    c = Client(port, mode)
    c.call("GET", path)  # connect, authenticate once
    out = []
    for _ in range(n):
        t = time.perf_counter()
        c.call("GET", path)
        out.append((time.perf_counter() - t) * 1000)
    return out


def throughput(port, mode, path, n):
    clients = [Client(port, mode) for _ in range(THREADS)]
    for c in clients:
        c.call("GET", path)
    start = threading.Barrier(THREADS + 1)

    def work(c):
        start.wait()
        for _ in range(n):
            c.call("GET", path)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return THREADS * n / (time.perf_counter() - t0)


def main():
    work = tempfile.mkdtemp(prefix="livy-bench-auth-")
    users = os.path.join(work, "users")
    hashed = subprocess.run([BIN, "hash-password"], input=b"alice-password\n",
                            capture_output=True, check=True).stdout.decode().strip()
    with open(users, "w") as f:
        f.write(f"alice:{hashed}\n")
    servers = {
        "off": (18997, []),
        "on": (18996, ["livy.server.auth.type=basic", f"livy.server.auth.basic.users-file={users}"]),
    }
    procs = []
    try:
        paths = {}
        for name, (port, extra) in servers.items():
            procs.append(start_server(work, name, port, extra))
            mode = "off" if name == "off" else "cookie"
            paths[name] = f"/sessions/{idle_session(Client(port, mode))}"
        cases = [("off", "off"), ("on", "cookie"), ("on", "basic")]
        rps = {m: [] for _, m in cases}
        lat = {m: [] for _, m in cases}
        for _ in range(ROUNDS):
            for server, mode in cases:
                port = servers[server][0]
                rps[mode].append(throughput(port, mode, paths[server], N))
                lat[mode] += latencies(port, mode, paths[server], N)
        base_rps = statistics.median(rps["off"])
        base_p50 = statistics.median(lat["off"])
        print(f"GET /sessions/{{id}}, {THREADS} connections x {N} requests x {ROUNDS} rounds (median round)")
        print(f"{'client':<34}{'req/s':>9}{'ratio':>8}{'p50 ms':>9}{'ratio':>8}")
        labels = {"off": "auth off (baseline)", "cookie": "basic, then hadoop.auth cookie",
                  "basic": "basic on every request (cached)"}
        for _, mode in cases:
            r, p = statistics.median(rps[mode]), statistics.median(lat[mode])
            # Throughput ratio: higher is better; p50 ratio as baseline/this (higher is better too).
            print(f"{labels[mode]:<34}{r:>9.0f}{r / base_rps:>7.2f}x{p:>9.3f}{base_p50 / p:>7.2f}x")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
