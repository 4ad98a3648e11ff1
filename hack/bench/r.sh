#!/usr/bin/env bash
# R session benchmark: sparkr POST -> idle against a pyspark session start on the
# same server, and the R `1 + 1` round trip.
set -euo pipefail
cd "$(dirname "$0")/../.."
hack/setup.sh
. hack/env.sh
cargo build --release --quiet
exec python3 hack/bench/r.py "$@"
