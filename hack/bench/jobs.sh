#!/usr/bin/env bash
# Job API latency: Livy's Java client's submit(job).get() of a trivial job on a warm
# session against a `1+1` spark statement (POST, poll until available) on the same
# session, in one run. Needs the test tools (Livy's Java client, hack/setup.sh --test).
exec "$(dirname "$0")/run.sh" --test jobs "$@"
