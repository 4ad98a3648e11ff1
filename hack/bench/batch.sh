#!/usr/bin/env bash
# Batch overhead benchmark: POST -> success vs spark-submit directly, idle RSS.
exec "$(dirname "$0")/run.sh" batch "$@"
