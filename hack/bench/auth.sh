#!/usr/bin/env bash
# Authentication overhead on GET /sessions/{id}: auth off against the built-in
# users file with the signed cookie and with cached Basic credentials, in one
# run (see hack/bench/auth.py).
exec "$(dirname "$0")/run.sh" auth "$@"
