#!/usr/bin/env bash
# Sets everything up and runs livy-server with its embedded defaults (local
# Spark, embedded store in ./livy-data, port 8998). Extra arguments go to
# livy-server, e.g. hack/run.sh --conf livy.file.local-dir-whitelist=$PWD/examples
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
# shellcheck source=hack/env.sh
. hack/env.sh
cargo build --release --quiet
# Livy's job API jars for the session driver (hack/setup.sh fetched them),
# unless livy.rsc.jars is set already: here, in the environment or in livy.conf.
rsc_jars_set() {
    local a prev="" dir="${LIVY_CONF_DIR:-}"
    [ -n "${LIVY_RSC_JARS:-}" ] && return 0
    for a in "$@"; do
        case "$a" in
            *livy.rsc.jars=*) return 0 ;;
            --conf-dir=*) dir="${a#--conf-dir=}" ;;
        esac
        [ "$prev" = --conf-dir ] && dir="$a"
        prev="$a"
    done
    [ -n "$dir" ] && grep -qsE '^[[:space:]]*livy\.rsc\.jars[[:space:]]*[=:[:space:]]' "$dir/livy.conf"
}
rsc=()
rsc_jars_set "$@" || rsc=(--conf "livy.rsc.jars=$(hack/jobapi/jobapi.sh rsc --cached)")
exec target/release/livy-server "$@" "${rsc[@]}"
