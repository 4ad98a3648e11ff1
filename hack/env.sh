# Source me: exports the Spark environment of the project-local virtualenv.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SPARK_HOME="$_root/.venv/lib/$(ls "$_root/.venv/lib" | head -n1)/site-packages/pyspark"
export PYSPARK_PYTHON="$_root/.venv/bin/python"
export PATH="$_root/.venv/bin:$PATH"
# Where the host name resolves to loopback, Spark would otherwise warn and pick another interface.
if getent hosts "$(hostname)" 2>/dev/null | grep -qE '^127\.'; then
    export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
fi
unset _root
