#!/usr/bin/env bash
# Store benchmark: the embedded store vs the PostgreSQL store, one server each,
# in one run (see hack/bench/store.py). Needs PostgreSQL (hack/setup.sh --test).
exec "$(dirname "$0")/run.sh" --test store "$@"
