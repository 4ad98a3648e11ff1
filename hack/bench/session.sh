#!/usr/bin/env bash
# Session benchmark: pyspark startup vs a bare SparkSession; statement round trips.
exec "$(dirname "$0")/run.sh" session "$@"
