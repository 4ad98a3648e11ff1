#!/usr/bin/env bash
# Sets everything up and runs livy-server with its embedded defaults (local
# Spark, embedded store in ./livy-data, port 8998). Extra arguments go to
# livy-server, e.g. hack/run.sh --conf livy.file.local-dir-whitelist=$PWD/examples
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
# shellcheck source=hack/env.sh
. hack/env.sh
cargo build --release --quiet
exec target/release/livy-server "$@"
