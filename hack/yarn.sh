#!/usr/bin/env bash
# A real YARN (ResourceManager + NodeManagers) and HDFS (NameNode + DataNode)
# in one JVM on loopback: hack/yarn/ (MiniYARNCluster + MiniDFSCluster).
#
#   hack/yarn.sh build       resolve and compile the launcher (cached, once per pom/java change)
#   hack/yarn.sh start DIR   start it; returns when DIR/ready exists, with DIR/conf
#                            (HADOOP_CONF_DIR), DIR/spark-conf (SPARK_CONF_DIR) and
#                            DIR/env (YARN_RM_URL, HDFS_URL, WEBHDFS_URL, ...)
#   hack/yarn.sh stop DIR    SIGTERM, a grace period, then SIGKILL
#   hack/yarn.sh rm-stop DIR        stop the ResourceManager alone (an outage); returns once down
#   hack/yarn.sh rm-start DIR [fresh]  start it again on the same ports, recovering its
#                            applications (fresh: from an empty state store, so it has never
#                            heard of them); returns once the NodeManagers are back
#   hack/yarn.sh hdfs DIR ARGS...  `hdfs dfs ARGS` against it (Hadoop's FsShell), e.g. -ls /
#   hack/yarn.sh [ARGS...]   start one in a temporary directory and run livy-server against
#                            it in the foreground (ARGS go to livy-server); stops it on exit
#
# Environment: MINICLUSTER_NODEMANAGERS (2), MINICLUSTER_NM_MEMORY_MB (4096),
# MINICLUSTER_NM_VCORES (4), MINICLUSTER_LOG_LEVEL (WARN), YARN_START_TIMEOUT (180 s),
# YARN_STOP_GRACE (30 s), LIVY_YARN_CACHE (~/.cache/livy-server/yarn),
# LIVY_SERVER_BIN (target/debug/livy-server, built if missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/hack/yarn"
CACHE_ROOT="${LIVY_YARN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/livy-server/yarn}"

die() { echo "yarn.sh: $*" >&2; exit 1; }

# The build goes to a directory named by the hash of its inputs, outside the work tree.
build_dir() {
    local hash
    hash="$(cd "$SRC" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
    echo "$CACHE_ROOT/$hash"
}

cmd_build() {
    local out
    out="$(build_dir)"
    if [[ -f "$out/classpath" && -d "$out/classes" ]]; then
        echo "$out"
        return
    fi
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch Hadoop's minicluster jars)"
    mkdir -p "$out"
    # Tests may start several clusters at once: one build, the others wait for it.
    exec 9>"$out.lock"
    flock 9
    if [[ ! -f "$out/classpath" ]]; then
        echo "yarn.sh: building the minicluster launcher into $out" >&2
        mvn -B -q -Dstyle.color=never -f "$SRC/pom.xml" -Dyarn.build.dir="$out/mvn" \
            compile dependency:build-classpath -Dmdep.outputFile="$out/classpath.tmp" \
            >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; die "mvn failed"; }
        rm -rf "$out/classes"
        cp -r "$out/mvn/classes" "$out/classes"
        mv "$out/classpath.tmp" "$out/classpath"
    fi
    exec 9>&-
    echo "$out"
}

java_home() {
    if [[ -n "${JAVA_HOME:-}" ]]; then echo "$JAVA_HOME"; return; fi
    local java
    java="$(readlink -f "$(command -v java)")" || die "java not found"
    dirname "$(dirname "$java")"
}

cmd_start() {
    local dir="${1:?usage: hack/yarn.sh start DIR}"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ -f "$dir/pid" ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        die "a cluster already runs from $dir (pid $(cat "$dir/pid"))"
    fi
    local out
    out="$(cmd_build)"
    # The launcher picks free ports before the daemons bind them (the RM must
    # rebind the same ones when it restarts); on a busy machine another
    # process may take one in between: then start again, on new ports.
    local attempt
    for attempt in 1 2 3; do
        if launch "$dir" "$out"; then
            grep 'MiniCluster: up in' "$dir/minicluster.log" >&2 || true
            spark_conf "$dir"
            cat "$dir/env"
            return 0
        fi
        echo "yarn.sh: a port the minicluster picked was taken meanwhile (attempt $attempt); starting again" >&2
    done
    die "the minicluster could not bind its ports in 3 attempts (log: $dir/minicluster.log)"
}

# launch DIR OUT: starts the minicluster and waits until it is ready (0), or
# until it exits on a port taken meanwhile (1); dies on any other failure.
launch() {
    local dir="$1" out="$2"
    rm -f "$dir/ready" "$dir/env"
    mkdir -p "$dir/tmp"
    # Containers start {{JAVA_HOME}}/bin/java: the NodeManagers pass on our JAVA_HOME.
    JAVA_HOME="$(java_home)"
    export JAVA_HOME
    local level="${MINICLUSTER_LOG_LEVEL:-WARN}"
    (
        cd "$dir"
        exec "$JAVA_HOME/bin/java" -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
            -Djava.io.tmpdir="$dir/tmp" -Dtest.build.data="$dir/test-data" \
            -Dminicluster.log.level="$level" \
            --add-opens=java.base/java.lang=ALL-UNNAMED \
            --add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
            --add-opens=java.base/java.io=ALL-UNNAMED \
            --add-opens=java.base/java.net=ALL-UNNAMED \
            --add-opens=java.base/java.nio=ALL-UNNAMED \
            --add-opens=java.base/java.util=ALL-UNNAMED \
            --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
            --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
            -cp "$out/classes:$(cat "$out/classpath")" \
            org.livyserver.hack.MiniCluster "$dir"
    ) >"$dir/minicluster.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$dir/pid"
    local timeout="${YARN_START_TIMEOUT:-180}" waited=0
    while [[ ! -f "$dir/ready" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            if grep -q 'BindException' "$dir/minicluster.log"; then
                cmd_stop "$dir" >/dev/null 2>&1 || true
                rm -rf "$dir/test-data"
                return 1
            fi
            tail -n 40 "$dir/minicluster.log" >&2
            die "the minicluster exited before it was ready (log: $dir/minicluster.log)"
        fi
        if (( waited >= timeout * 5 )); then
            tail -n 40 "$dir/minicluster.log" >&2
            cmd_stop "$dir"
            die "the minicluster was not ready after ${timeout} s (log: $dir/minicluster.log)"
        fi
        sleep 0.2
        waited=$((waited + 1))
    done
}

# DIR/spark-conf/spark-defaults.conf (SPARK_CONF_DIR) for applications on this cluster.
# spark.yarn.jars=local:...: the NodeManagers run on this host and can read pip's pyspark
# jars in place; without it every spark-submit zips and uploads SPARK_HOME/jars (~400 MB,
# +15 s per application). The Python of the virtualenv for the driver and the executors.
spark_conf() {
    local dir="$1"
    if [[ -z "${SPARK_HOME:-}" ]]; then
        # shellcheck source=hack/env.sh
        . "$ROOT/hack/env.sh"
    fi
    [[ -d "$SPARK_HOME/jars" ]] || { echo "yarn.sh: no $SPARK_HOME/jars; no spark-defaults.conf" >&2; return 0; }
    mkdir -p "$dir/spark-conf"
    {
        echo "spark.yarn.jars local:$SPARK_HOME/jars/*"
        echo "spark.pyspark.python $PYSPARK_PYTHON"
    } >"$dir/spark-conf/spark-defaults.conf"
    echo "SPARK_CONF_DIR=$dir/spark-conf" >>"$dir/env"
}

cmd_stop() {
    local dir="${1:?usage: hack/yarn.sh stop DIR}"
    [[ -f "$dir/pid" ]] || { echo "yarn.sh: no $dir/pid; nothing to stop" >&2; return 0; }
    local pid grace="${YARN_STOP_GRACE:-30}" waited=0
    pid="$(cat "$dir/pid")"
    if kill -TERM "$pid" 2>/dev/null; then
        while kill -0 "$pid" 2>/dev/null && (( waited < grace * 5 )); do
            sleep 0.2
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "yarn.sh: pid $pid still up after ${grace} s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # Containers run in their own sessions; the NodeManagers kill them on a clean stop. After a
    # SIGKILL they would be orphans: their command lines name their directories under DIR.
    local dir_abs
    dir_abs="$(cd "$dir" && pwd)"
    if pgrep -f "$dir_abs/test-data/" >/dev/null; then
        echo "yarn.sh: killing container processes left under $dir_abs" >&2
        pkill -KILL -f "$dir_abs/test-data/" || true
    fi
    rm -f "$dir/pid" "$dir/ready"
}

# One command to the running launcher through DIR/control; it answers in DIR/control.done.
cmd_control() {
    local dir="${1:?usage: hack/yarn.sh rm-stop|rm-start DIR [fresh]}" command="$2"
    [[ -f "$dir/ready" ]] || die "no cluster runs from $dir"
    local pid timeout="${YARN_CONTROL_TIMEOUT:-180}" waited=0
    pid="$(cat "$dir/pid")"
    rm -f "$dir/control.done"
    echo "$command" >"$dir/control.tmp"
    mv "$dir/control.tmp" "$dir/control"
    while [[ ! -f "$dir/control.done" ]]; do
        kill -0 "$pid" 2>/dev/null || die "the minicluster exited (log: $dir/minicluster.log)"
        (( waited < timeout * 5 )) || die "no answer to '$command' after ${timeout} s (log: $dir/minicluster.log)"
        sleep 0.2
        waited=$((waited + 1))
    done
    local answer
    answer="$(cat "$dir/control.done")"
    echo "yarn.sh: $answer" >&2
    [[ "$answer" == ok* ]] || die "$command failed (log: $dir/minicluster.log)"
}

cmd_hdfs() {
    local dir="${1:?usage: hack/yarn.sh hdfs DIR ARGS...}"
    shift
    local out
    out="$(cmd_build)"
    # DIR/conf first on the class path: Hadoop reads core-site.xml and hdfs-site.xml from there.
    "$(java_home)/bin/java" -Xmx256m -XX:TieredStopAtLevel=1 -Dminicluster.log.level=WARN \
        -cp "$dir/conf:$out/classes:$(cat "$out/classpath")" org.apache.hadoop.fs.FsShell "$@"
}

RUN_DIR=""
LIVY_PID=""

# On exit, however it comes: livy-server first (it may still be submitting), then the cluster.
run_cleanup() {
    if [[ -n "$LIVY_PID" ]] && kill -0 "$LIVY_PID" 2>/dev/null; then
        kill -TERM "$LIVY_PID" 2>/dev/null || true
        wait "$LIVY_PID" 2>/dev/null || true
    fi
    if [[ -n "$RUN_DIR" ]]; then
        cmd_stop "$RUN_DIR"
        echo "yarn.sh: cluster stopped; its state is left in $RUN_DIR" >&2
    fi
}

cmd_run() {
    # shellcheck source=hack/env.sh
    . "$ROOT/hack/env.sh"
    RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/livy-yarn.XXXXXX")"
    trap run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cmd_start "$RUN_DIR"
    export HADOOP_CONF_DIR="$RUN_DIR/conf" SPARK_CONF_DIR="$RUN_DIR/spark-conf"
    local bin="${LIVY_SERVER_BIN:-$ROOT/target/debug/livy-server}"
    if [[ ! -x "$bin" ]]; then
        (cd "$ROOT" && cargo build --quiet)
    fi
    echo "yarn.sh: livy-server on YARN; HADOOP_CONF_DIR=$HADOOP_CONF_DIR SPARK_CONF_DIR=$SPARK_CONF_DIR" >&2
    # In the background and waited for: `wait` returns on a signal, so the traps run at once.
    "$bin" --conf livy.spark.master=yarn --data-dir "$RUN_DIR/livy-data" "$@" &
    LIVY_PID=$!
    wait "$LIVY_PID"
}

case "${1:-}" in
    build) cmd_build >/dev/null ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    rm-stop) cmd_control "${2:-}" rm-stop ;;
    rm-start)
        case "${3:-}" in
            "") cmd_control "${2:-}" rm-start ;;
            fresh) cmd_control "${2:-}" "rm-start fresh" ;;
            *) die "usage: hack/yarn.sh rm-start DIR [fresh]" ;;
        esac ;;
    hdfs) shift; cmd_hdfs "$@" ;;
    -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) cmd_run "$@" ;;
esac
