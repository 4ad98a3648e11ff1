#!/usr/bin/env bash
# Batch overhead benchmark: POST -> success vs spark-submit directly, idle RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
hack/setup.sh
. hack/env.sh
cargo build --release --quiet
exec python3 hack/bench/batch.py "$@"
