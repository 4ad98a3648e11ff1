#!/usr/bin/env bash
# Statement latency benchmark: pylivy's run("1+1") with livy.server.statement.sync-wait
# at its default against sync-wait=0 (Livy's behaviour), the tight-poll round trip,
# and how long simple statements of each kind take (what the default is chosen from).
exec "$(dirname "$0")/run.sh" --test statements "$@"
