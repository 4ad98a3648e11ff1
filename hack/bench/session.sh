#!/usr/bin/env bash
# Session benchmark: pyspark startup vs a bare SparkSession; statement round trips.
set -euo pipefail
cd "$(dirname "$0")/../.."
hack/setup.sh
. hack/env.sh
cargo build --release --quiet
exec python3 hack/bench/session.py "$@"
