#!/usr/bin/env bash
# Runs Livy's Java job client (livy-client-http 0.7.1, unchanged) against a server:
#
#   hack/jobapi/java-examples.sh URL             the examples, one JSON line each on stdout
#   hack/jobapi/java-examples.sh URL bench N     N timed submit(job).get() round trips
#
# Builds first if needed (hack/jobapi/jobapi.sh build; cached). Exit 0 once the run
# reached its end, whatever the values; non-zero on an unexpected exception (its stack
# trace on stderr). See hack/jobapi/README.md for the lines printed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${1:?usage: hack/jobapi/java-examples.sh URL [bench N]}"
shift
# shellcheck source=hack/env.sh
. "$HERE/../env.sh"
out="$("$HERE/jobapi.sh" build)"
cp="$("$HERE/jobapi.sh" classpath)"
# Logging (Spark's log4j2 is on the class path) to stderr: stdout is for the JSON lines.
exec java -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -cp "$cp" org.livyserver.jobapi.Examples "$url" "$out/jobs.jar" "$@"
