#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: unit tests and the
# end-to-end tests against real Spark 4.3 (local mode and a standalone master
# + worker the tests start and stop, a KDC and an LDAP server), then the
# Spark-line-dependent end-to-end tests on Spark 3.5. Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh --test
# shellcheck source=hack/env.sh
. hack/env.sh
export RUST_BACKTRACE=1
# Spark is CPU-bound on small machines: end-to-end test binaries bound their
# own concurrency, and test threads are capped so two binaries do not pile up.
cargo test --all-targets -- --test-threads="${LIVY_TEST_THREADS:-2}"
# Spark 3.5 (Scala 2.12), the other Spark line in production, with the driver
# compiled for Scala 2.12 from the same source: the tests whose paths differ
# between Spark lines (Python and JVM batches; Scala, Python and SQL on one
# context; pyspark 3.5's outputs; pylivy; SparkR on Spark 3.5's RBackend; a batch and
# a pyspark session on YARN). Livy's Java job client is not in it: on Spark
# 3.5 its SQL example timed out (README, "Job API").
# Paths that do not depend on the Spark line (cluster managers, magics,
# recovery, auth) run on Spark 4.3 only, to keep the suite within CI's time.
spark35=$(echo "$PWD"/.venv-spark35/lib/python3*/site-packages/pyspark)
SPARK_HOME="$spark35" PYSPARK_PYTHON="$PWD/.venv-spark35/bin/python" \
    cargo test --test batches_e2e --test sessions_e2e --test clients_e2e --test r_e2e \
    --test yarn_cluster -- \
    --test-threads="${LIVY_TEST_THREADS:-2}" \
    python_pi_batch_succeeds jvm_batch_with_class_and_args \
    pyspark_session_runs_python sql_and_shared_sessions \
    pylivy_runs_code sparkr_session_runs_the_seed_pi \
    a_python_batch_runs_in_queue_etl a_pyspark_session_ends_with_its_delete
