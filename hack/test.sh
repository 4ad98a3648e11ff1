#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: unit tests and the
# end-to-end tests against real Spark (local mode and a standalone master +
# worker the tests start and stop). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
# Helm's engine for the chart test (tests/chart.rs); no helm binary needed.
if ! .venv/bin/python -c "import helm_python" 2>/dev/null; then
    .venv/bin/pip install --disable-pip-version-check -q "helm-python-sdk==0.2.2"
fi
# matplotlib, so the %matplot magic of pyspark sessions is tested for real.
if ! .venv/bin/python -c "import matplotlib" 2>/dev/null; then
    .venv/bin/pip install --disable-pip-version-check -q "matplotlib==3.11.2"
fi
# shellcheck source=hack/env.sh
. hack/env.sh
export RUST_BACKTRACE=1
# Spark is CPU-bound on small machines: end-to-end test binaries bound their
# own concurrency, and test threads are capped so two binaries do not pile up.
cargo test --all-targets -- --test-threads="${LIVY_TEST_THREADS:-2}"
