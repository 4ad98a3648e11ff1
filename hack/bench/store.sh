#!/usr/bin/env bash
# Store benchmark: the embedded store, one server on PostgreSQL, and two servers
# sharing one PostgreSQL database, in one run (see hack/bench/store.py). Needs
# PostgreSQL (hack/setup.sh --test).
exec "$(dirname "$0")/run.sh" --test store "$@"
