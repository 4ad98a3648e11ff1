#!/usr/bin/env bash
# Builds the REPL driver jar exactly as livy-server does at launch (cached per Spark version):
#
#   java -cp "$SPARK_HOME/jars/*" scala.tools.nsc.Main -usejavacp -nowarn -d OUT/classes \
#       src/repl/driver/*.scala src/repl/driver/scala-<2.12|2.13>/*.scala
#   jar cf OUT/livy-repl-driver.jar -C OUT/classes .
#
# i.e. Spark's own Scala compiler (so the driver matches the cluster's Scala version), one
# compiler invocation over all .scala files, then the JDK's `jar` tool. livy_repl.py is not in
# the jar: the driver gets its absolute path as --conf spark.livy.repl.python=/abs/livy_repl.py.
#
# Usage: hack/driver-smoke/build.sh [OUT_DIR]      (default: /tmp/livy-driver-build)
# Prints the jar path on its last line.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SRC="$ROOT/src/repl/driver"
OUT="${1:-/tmp/livy-driver-build}"
: "${SPARK_HOME:=$ROOT/.venv/lib/python3.11/site-packages/pyspark}"

# The installation's Scala binary version picks the shims (scala-library-2.13.18.jar -> 2.13).
lib=$(basename "$(ls "$SPARK_HOME"/jars/scala-library-*.jar | head -n1)")
scala_binary=$(echo "$lib" | sed -E 's/^scala-library-([0-9]+\.[0-9]+)\..*$/\1/')
rm -rf "$OUT/classes"
mkdir -p "$OUT/classes"
java -cp "$SPARK_HOME/jars/*" scala.tools.nsc.Main -usejavacp -nowarn -d "$OUT/classes" \
    "$SRC"/*.scala "$SRC/scala-$scala_binary"/*.scala
jar cf "$OUT/livy-repl-driver.jar" -C "$OUT/classes" .
echo "$OUT/livy-repl-driver.jar"
