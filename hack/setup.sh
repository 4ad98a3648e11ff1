#!/usr/bin/env bash
# Installs what livy-server needs and nothing else: Java 17, R and bubblewrap
# (each only if absent, via apt; R runs `sparkr` sessions and R batches,
# bubblewrap sandboxes the applications whose driver runs here) and pyspark
# (pinned) into the project-local virtualenv .venv, and Livy's job API jars for
# the session driver (hack/jobapi/jobapi.sh rsc). Idempotent; safe to run on
# every start. Source hack/env.sh afterwards.
#
# `hack/setup.sh --test` also installs what only the test suite needs: a
# second Spark (pyspark 3.5, Scala 2.12) in .venv-spark35, the real Livy
# clients (pylivy, sparkmagic; sparkmagic builds against Debian's
# libkrb5-dev), Helm's engine for the chart test, matplotlib for %matplot,
# and for the authentication tests an MIT Kerberos KDC, an OpenLDAP server
# (both started by the tests on loopback, never as services), PostgreSQL for
# the PostgreSQL store's tests (likewise), Chromium and chromedriver for the
# web UI's browser test, Airflow's Livy provider in .venv-airflow,
# prometheus-client (the metrics test's parser) and schemathesis (in
# .venv-schemathesis, for the OpenAPI fuzz test), Hadoop's YARN/HDFS
# minicluster from Maven Central (hack/yarn.sh build), and Livy's Java job
# client with our example jobs plus cloudpickle (hack/jobapi/).
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
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
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

# Drivers on this host run in a bubblewrap sandbox (livy.server.launch.isolation).
if ! command -v bwrap >/dev/null 2>&1; then
    apt_install bubblewrap
fi

# Kerberos (SPNEGO) is built in by default: the GSSAPI bindings are generated
# from MIT Kerberos' headers (bindgen needs libclang) and link libgssapi_krb5.
# (`cargo build --no-default-features` builds without Kerberos and needs none.)
missing=()
for pkg in libkrb5-dev libclang-dev pkg-config; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs) and re-run" >&2
    exit 1
fi

venv_with_pyspark .venv "$PYSPARK_VERSION"

# Livy's job API classes, which the session driver needs to read Java jobs
# (livy.rsc.jars; hack/run.sh passes them): two jars fetched once from Maven
# Central into ~/.cache/livy-server/livy-rsc (Maven only if they are missing).
if ! hack/jobapi/jobapi.sh rsc --cached >/dev/null 2>&1; then
    command -v mvn >/dev/null 2>&1 || apt_install maven
    hack/jobapi/jobapi.sh rsc >/dev/null
fi

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
    pip_if_missing .venv sparkmagic "sparkmagic==0.23.0"
    # Authentication tests (tests/auth_e2e.rs): a real KDC and kinit, a real
    # slapd and its tools. slapd is told not to build a directory of its own;
    # the tests make theirs in a temporary directory.
    if ! command -v krb5kdc >/dev/null 2>&1 || ! command -v kdb5_util >/dev/null 2>&1 \
        || ! command -v kinit >/dev/null 2>&1 || ! command -v slapd >/dev/null 2>&1 \
        || ! command -v ldapadd >/dev/null 2>&1; then
        if command -v debconf-set-selections >/dev/null 2>&1; then
            echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
        fi
        apt_install krb5-kdc krb5-admin-server krb5-user slapd ldap-utils
    fi
    # The PostgreSQL store's tests (tests/postgres_store.rs) run Debian's
    # initdb and pg_ctl on a cluster of their own in a temporary directory.
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
    # curl (the SPNEGO, Basic and TLS client of the tests) and the openssl CLI
    # (the TLS tests make their certificates and PKCS#12 files with it).
    for tool in curl openssl; do
        command -v "$tool" >/dev/null 2>&1 || apt_install "$tool"
    done
    # The web UI's browser test (tests/ui_browser.rs) drives Debian's headless
    # Chromium through its chromedriver.
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        apt_install chromium chromium-driver
    fi
    # requests-kerberos: the Python SPNEGO client most Livy scripts use.
    pip_if_missing .venv requests_kerberos "requests-kerberos==0.15.0"
    # Airflow's LivyHook, in its own virtualenv (Airflow pins many packages).
    if [ ! -x .venv-airflow/bin/python ]; then
        echo "setup: creating .venv-airflow" >&2
        python3 -m venv .venv-airflow
    fi
    pip_if_missing .venv-airflow airflow.providers.apache.livy.hooks.livy \
        "apache-airflow==3.3.2" "apache-airflow-providers-apache-livy==4.6.4"
    # The Prometheus text-format parser the metrics test reads /metrics with.
    pip_if_missing .venv prometheus_client "prometheus-client==0.26.0"
    # schemathesis, which fuzzes the server against its own /openapi.json
    # (tests/openapi.rs), in its own virtualenv (it pins its own libraries).
    if [ ! -x .venv-schemathesis/bin/python ]; then
        echo "setup: creating .venv-schemathesis" >&2
        python3 -m venv .venv-schemathesis
    fi
    pip_if_missing .venv-schemathesis schemathesis "schemathesis==4.32.5"
    # A real YARN and HDFS for tests/yarn_cluster.rs: Hadoop's minicluster
    # fetched from Maven Central into ~/.m2 and our launcher compiled into
    # ~/.cache/livy-server/yarn (once per change of hack/yarn/).
    command -v mvn >/dev/null 2>&1 || apt_install maven
    bash hack/yarn.sh build
    # The job API tests (hack/jobapi/): Livy's Java client from Maven Central
    # and our example jobs compiled against it into ~/.cache/livy-server
    # (once per change of hack/jobapi/java); cloudpickle for our Python job
    # client, into .venv and into .venv-spark35 (a driver unpickles the jobs
    # with it). requests, the client's other library, comes with pylivy.
    hack/jobapi/jobapi.sh build >/dev/null
    pip_if_missing .venv cloudpickle "cloudpickle==3.1.2"
    pip_if_missing .venv-spark35 cloudpickle "cloudpickle==3.1.2"
fi
