#!/usr/bin/env bash
# Metrics overhead: creates/s, GET by id req/s and list latency with metrics
# on and off, as a ratio (see hack/bench/metrics.py).
exec "$(dirname "$0")/run.sh" metrics "$@"
