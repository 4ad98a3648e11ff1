#!/usr/bin/env bash
# Authentication overhead on GET /sessions/{id}: auth off against the built-in
# users file with the signed cookie and with cached Basic credentials, in one
# run (see hack/bench/auth.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
hack/setup.sh
. hack/env.sh
cargo build --release --quiet
exec .venv/bin/python hack/bench/auth.py "$@"
