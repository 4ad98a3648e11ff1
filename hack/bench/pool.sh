#!/usr/bin/env bash
# Warm session pool: cold and pooled POST /sessions -> idle vs a bare SparkSession; first statement.
exec "$(dirname "$0")/run.sh" pool "$@"
