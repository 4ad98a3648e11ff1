#!/usr/bin/env bash
# Installs what livy-server needs and nothing else: Java 17 (only if no java
# is on PATH, via apt) and pyspark (pinned) into the project-local virtualenv
# .venv. Idempotent; safe to run on every start. Source hack/env.sh afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

PYSPARK_VERSION="${PYSPARK_VERSION:-4.3.0}"

if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    echo "setup: installing a JDK (java and javac are needed to run Spark and compile test apps)" >&2
    if command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
    else
        echo "setup: no java and no apt-get; install a JDK 17 and re-run" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) and re-run" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import pyspark, sys; sys.exit(0 if pyspark.__version__ == '$PYSPARK_VERSION' else 1)" 2>/dev/null; then
    echo "setup: installing pyspark==$PYSPARK_VERSION into .venv (about 500 MB)" >&2
    .venv/bin/pip install --disable-pip-version-check -q "pyspark==$PYSPARK_VERSION"
fi
