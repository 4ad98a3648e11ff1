#!/usr/bin/env bash
# Livy's programmatic job API: the jars it needs, fetched once from Maven Central
# into ~/.cache/livy-server (never into the work tree), and our Java examples.
#
#   hack/jobapi/jobapi.sh rsc [--cached]  the jars the session driver needs to read Java
#                                         jobs (livy.rsc.jars); prints them comma-separated.
#                                         --cached: fetch nothing, fail if absent.
#   hack/jobapi/jobapi.sh client          Livy's Java client and what it needs at run time;
#                                         prints their directory
#   hack/jobapi/jobapi.sh build           the client, then hack/jobapi/java/ compiled
#                                         (once per change of its sources or of Spark);
#                                         prints the build directory: classes/, jobs.jar
#   hack/jobapi/jobapi.sh classpath       the Java examples' class path (builds first)
#
# Environment: LIVY_JOBAPI_CACHE (~/.cache/livy-server).
#
# Livy 0.8.0 was never published to Maven Central; 0.7.1-incubating is the newest
# release there, and its job wire protocol is 0.8's (see README.md beside this file).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/hack/jobapi/java"
CACHE="${LIVY_JOBAPI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livy-server}"
LIVY_VERSION=0.7.1-incubating
RSC_DIR="$CACHE/livy-rsc"
CLIENT_DIR="$CACHE/livy-client"

# The driver reads jobs with org.apache.livy.client.common.Serializer. livy-client-http
# carries it with the Kryo (2.22) that the client writes with, relocated under
# org.apache.livy.shaded.kryo, so it neither meets Spark's own Kryo 4 nor needs it
# (the unshaded livy-client-common 0.7.1 would need Kryo 2.22 itself, whose
# classes clash with Spark's, and Kryo 4 cannot read what 2.22 writes).
RSC_ARTIFACTS=(org.apache.livy:livy-api org.apache.livy:livy-client-http)
# The client: livy-client-http is shaded (HTTP client, Jackson, Kryo inside);
# its only declared dependency is livy-api. It also logs through slf4j-api, which
# it does not declare: the examples take that, and Spark's classes, from $SPARK_HOME/jars.
CLIENT_ARTIFACTS=(org.apache.livy:livy-api org.apache.livy:livy-client-http)

die() { echo "jobapi.sh: $*" >&2; exit 1; }

# jar_path DIR GROUP:ARTIFACT: where that artifact's jar lives in DIR.
jar_path() { echo "$1/${2#*:}-$LIVY_VERSION.jar"; }

# fetch DIR GROUP:ARTIFACT...: each jar into DIR unless it is already there.
fetch() {
    local dir=$1 a missing=()
    shift
    for a in "$@"; do
        [[ -f "$(jar_path "$dir" "$a")" ]] || missing+=("$a")
    done
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch ${missing[*]})"
    mkdir -p "$dir"
    # Tests may start at once: one fetch, the others wait for it.
    exec 8>"$dir.lock"
    flock 8
    for a in "${missing[@]}"; do
        local jar tmp
        jar="$(jar_path "$dir" "$a")"
        [[ -f "$jar" ]] && continue
        echo "jobapi.sh: fetching $a:$LIVY_VERSION into $dir" >&2
        tmp="$(mktemp -d "$dir/.fetch.XXXXXX")"
        mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="$a:$LIVY_VERSION" \
            -DoutputDirectory="$tmp" >"$tmp/mvn.log" 2>&1 \
            || { cat "$tmp/mvn.log" >&2; rm -rf "$tmp"; die "mvn could not fetch $a:$LIVY_VERSION"; }
        mv "$tmp/$(basename "$jar")" "$jar"
        rm -rf "$tmp"
    done
    exec 8>&-
}

cmd_rsc() {
    local a jars=()
    if [[ "${1:-}" != --cached ]]; then
        fetch "$RSC_DIR" "${RSC_ARTIFACTS[@]}"
    fi
    for a in "${RSC_ARTIFACTS[@]}"; do
        jars+=("$(jar_path "$RSC_DIR" "$a")")
        [[ -f "${jars[-1]}" ]] || die "${jars[-1]} is missing (run hack/setup.sh)"
    done
    (IFS=,; echo "${jars[*]}")
}

cmd_client() {
    fetch "$CLIENT_DIR" "${CLIENT_ARTIFACTS[@]}"
    echo "$CLIENT_DIR"
}

spark_home() {
    if [[ -z "${SPARK_HOME:-}" ]]; then
        # shellcheck source=hack/env.sh
        . "$ROOT/hack/env.sh"
    fi
    [[ -d "$SPARK_HOME/jars" ]] || die "no Spark at $SPARK_HOME (run hack/setup.sh)"
    echo "$SPARK_HOME"
}

client_classpath() {
    local a cp=()
    for a in "${CLIENT_ARTIFACTS[@]}"; do
        cp+=("$(jar_path "$CLIENT_DIR" "$a")")
    done
    (IFS=:; echo "${cp[*]}")
}

# The build goes to a directory named by the hash of its inputs: our sources, the
# Livy version and the Spark jars compiled against.
build_dir() {
    local spark=$1 hash
    hash="$( (cd "$SRC" && find . -name '*.java' | LC_ALL=C sort | xargs sha256sum
              echo "$LIVY_VERSION"; basename "$spark"/jars/spark-core_*.jar) | sha256sum | cut -c1-16)"
    echo "$CACHE/jobapi/$hash"
}

cmd_build() {
    cmd_client >/dev/null
    local spark out
    spark="$(spark_home)"
    out="$(build_dir "$spark")"
    if [[ -f "$out/jobs.jar" ]]; then
        echo "$out"
        return
    fi
    mkdir -p "$out"
    exec 9>"$out.lock"
    flock 9
    if [[ ! -f "$out/jobs.jar" ]]; then
        echo "jobapi.sh: compiling hack/jobapi/java into $out" >&2
        rm -rf "$out/classes" "$out/jobs.jar.tmp"
        local srcs
        mapfile -t srcs < <(find "$SRC" -name '*.java' | LC_ALL=C sort)
        javac --release 17 -nowarn -encoding UTF-8 -d "$out/classes" \
            -cp "$(client_classpath):$spark/jars/*" "${srcs[@]}"
        # jobs.jar: what the client uploads, the job classes without the runner.
        (cd "$out/classes" && find . -name '*.class' ! -name 'Examples*.class' | LC_ALL=C sort \
            | jar cf "$out/jobs.jar.tmp" @/dev/stdin)
        mv "$out/jobs.jar.tmp" "$out/jobs.jar"
    fi
    exec 9>&-
    echo "$out"
}

cmd_classpath() {
    local out spark
    out="$(cmd_build)"
    spark="$(spark_home)"
    # Our classes and Livy's client before Spark's jars (slf4j-api, and the Spark
    # classes the job classes name, come from there).
    echo "$out/classes:$(client_classpath):$spark/jars/*"
}

case "${1:-}" in
    rsc) shift; cmd_rsc "$@" ;;
    client) cmd_client ;;
    build) cmd_build ;;
    classpath) cmd_classpath ;;
    *) die "usage: hack/jobapi/jobapi.sh rsc [--cached] | client | build | classpath" ;;
esac
