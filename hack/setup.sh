#!/usr/bin/env bash
# Installs what livy-server needs and nothing else: Java 17 and R (each only
# if absent, via apt; R runs `sparkr` sessions and R batches) and pyspark
# (pinned) into the project-local virtualenv .venv. Idempotent; safe to run on
# every start. Source hack/env.sh afterwards.
#
# `hack/setup.sh --test` also installs what only the test suite needs: a
# second Spark (pyspark 3.5, Scala 2.12) in .venv-spark35, the real Livy
# clients (pylivy, sparkmagic; sparkmagic builds against Debian's
# libkrb5-dev), Helm's engine for the chart test and matplotlib for %matplot.
set -euo pipefail
cd "$(dirname "$0")/.."

PYSPARK_VERSION="${PYSPARK_VERSION:-4.3.0}"
PYSPARK35_VERSION="${PYSPARK35_VERSION:-3.5.9}"

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: $* needed but there is no apt-get; install it and re-run" >&2
        exit 1
    fi
    echo "setup: installing $* (apt)" >&2
    apt-get update -qq && apt-get install -y -qq "$@" >/dev/null
}

# venv_with_pyspark DIR VERSION: DIR is a virtualenv holding pyspark==VERSION.
venv_with_pyspark() {
    local dir=$1 version=$2
    if [ ! -x "$dir/bin/python" ]; then
        echo "setup: creating $dir" >&2
        python3 -m venv "$dir"
    fi
    if ! "$dir/bin/python" -c "import pyspark, sys; sys.exit(0 if pyspark.__version__ == '$version' else 1)" 2>/dev/null; then
        echo "setup: installing pyspark==$version into $dir (about 500 MB)" >&2
        "$dir/bin/pip" install --disable-pip-version-check -q "pyspark==$version"
    fi
}

# pip_if_missing VENV MODULE REQUIREMENT...: installs into VENV unless MODULE imports there.
pip_if_missing() {
    local venv=$1 module=$2
    shift 2
    if ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
        echo "setup: installing $* into $venv" >&2
        "$venv/bin/pip" install --disable-pip-version-check -q "$@"
    fi
}

if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    apt_install openjdk-17-jdk-headless
fi

if ! command -v R >/dev/null 2>&1 || ! command -v Rscript >/dev/null 2>&1; then
    apt_install r-base-core
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) and re-run" >&2
    exit 1
fi

venv_with_pyspark .venv "$PYSPARK_VERSION"

if [ "${1:-}" = "--test" ]; then
    venv_with_pyspark .venv-spark35 "$PYSPARK35_VERSION"
    # Helm's engine for the chart test (tests/chart.rs); no helm binary needed.
    pip_if_missing .venv helm_python "helm-python-sdk==0.2.2"
    # matplotlib, so the %matplot magic of pyspark sessions is tested for real.
    pip_if_missing .venv matplotlib "matplotlib==3.11.2"
    pip_if_missing .venv-spark35 matplotlib "matplotlib==3.11.2"
    # The real Livy clients (tests/clients_e2e.rs). sparkmagic's Kerberos
    # support (gssapi) builds against MIT Kerberos' headers.
    pip_if_missing .venv livy "livy==0.8.0"
    if ! .venv/bin/python -c "import sparkmagic" 2>/dev/null; then
        command -v krb5-config >/dev/null 2>&1 || apt_install libkrb5-dev
        pip_if_missing .venv sparkmagic "sparkmagic==0.23.0"
    fi
fi
