#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: unit tests and the
# end-to-end tests against real Spark (local mode and a standalone master +
# worker the tests start and stop). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh --test
# shellcheck source=hack/env.sh
. hack/env.sh
export RUST_BACKTRACE=1
# Spark is CPU-bound on small machines: end-to-end test binaries bound their
# own concurrency, and test threads are capped so two binaries do not pile up.
cargo test --all-targets -- --test-threads="${LIVY_TEST_THREADS:-2}"
