#!/usr/bin/env bash
# Runs one benchmark: `hack/bench/run.sh [--test] NAME [ARGS...]` sets up what
# it needs (hack/setup.sh; with --test, the test tools such as pylivy too),
# builds the release server and runs hack/bench/NAME.py with ARGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
setup=()
if [ "${1:-}" = --test ]; then
    setup=(--test)
    shift
fi
name=$1
shift
hack/setup.sh "${setup[@]}"
. hack/env.sh
cargo build --release --quiet
exec .venv/bin/python "hack/bench/$name.py" "$@"
