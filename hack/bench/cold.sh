#!/usr/bin/env bash
# Cold session start: driver JVM options vs a bare SparkSession, first action, heavy query.
exec "$(dirname "$0")/run.sh" cold "$@"
