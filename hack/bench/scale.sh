#!/usr/bin/env bash
# Scale benchmark: list/get latency, create rate, store reads per state change,
# idle CPU and RSS per record at 100, 1,000 and 10,000 finished batch records,
# against a stand-in spark-submit (see hack/bench/scale.py).
exec "$(dirname "$0")/run.sh" scale "$@"
