//! Every configuration key the server reads, with its default and meaning.
//! The README's configuration table is generated from the same list by
//! `livy-server config-keys`, so it cannot drift.

/// A configuration key: Livy's name, default value (as text) and one line of help.
pub struct Key {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

macro_rules! keys {
    ($($id:ident = $name:literal, $default:literal, $help:literal;)*) => {
        $(pub const $id: &str = $name;)*
        /// Every known key, in documentation order.
        pub const ALL: &[Key] = &[$(Key { name: $name, default: $default, help: $help }),*];
    };
}

keys! {
    SERVER_HOST = "livy.server.host", "0.0.0.0", "Address the REST API listens on.";
    SERVER_PORT = "livy.server.port", "8998", "Port of the REST API.";
    SPARK_MASTER = "livy.spark.master", "local[*]", "Spark master for every application (`local[*]`, `spark://host:port`, `yarn`). When unset, `spark.master` from spark-defaults.conf, else `local[*]`.";
    SPARK_DEPLOY_MODE = "livy.spark.deploy-mode", "", "`client` or `cluster`; empty lets spark-submit decide (client).";
    SPARK_HOME = "livy.server.spark-home", "", "Spark installation; empty means `$SPARK_HOME`.";
    DATA_DIR = "livy.server.data-dir", "./livy-data", "Where the embedded store (`livy.db`) and application logs (`apps/<tag>/`) live.";
    LOCAL_DIR_WHITELIST = "livy.file.local-dir-whitelist", "", "Comma-separated local directories whose files requests may reference. Empty: no local (`file:` or scheme-less) paths at all, as in Livy.";
    MAX_CREATION = "livy.server.session.max-creation", "100", "At most this many spark-submit processes at once; more requests get 400 `Rejected, too many sessions are being created!`.";
    STATE_RETAIN = "livy.server.session.state-retain.sec", "600s", "How long finished batches and sessions stay listed before they are removed.";
    CACHE_LOG_SIZE = "livy.cache-log.size", "200", "Lines of each log kept in memory and returned by `/log`.";
    IMPERSONATION = "livy.impersonation.enabled", "false", "Pass `proxyUser` to spark-submit as `--proxy-user`; when false it is ignored and reported as null.";
    POLL_INTERVAL = "livy.server.poll-interval", "1s", "How often the reconciler observes applications when nothing wakes it sooner.";
    APP_LOOKUP_TIMEOUT = "livy.server.app-lookup-timeout", "30s", "A submitted application the cluster manager cannot find for this long ends `dead`.";
    KILL_GRACE = "livy.server.kill.grace-period", "5s", "Time between SIGTERM and SIGKILL when stopping an application's processes.";
    MAX_BODY = "livy.server.request.max-body-size", "1m", "Largest request body accepted; larger ones get 413.";
    LAUNCH_RETRIES = "livy.server.launch.max-retries", "3", "Transient launch failures retried (with backoff) before a batch ends `dead`.";
    SESSION_TIMEOUT = "livy.server.session.timeout", "1h", "An interactive session idle this long (no statement waiting or running, none submitted) is deleted. 0 disables.";
    CONNECT_TIMEOUT = "livy.rsc.server.connect.timeout", "90s", "A session whose driver has not called back this long after launch ends `error` and its application is killed.";
    LAUNCHER_ADDRESS = "livy.rsc.launcher.address", "", "Address drivers dial back to (advertised to the driver). Empty: 127.0.0.1 for local masters, else this host's name.";
    LAUNCHER_PORT_RANGE = "livy.rsc.launcher.port.range", "10000~10010", "Ports tried, in order, for the driver callback listener (`0~0`: any free port).";
    SQL_NUM_ROWS = "livy.rsc.sql.num-rows", "1000", "Rows returned by a `sql` statement at most.";
    DRIVER_IDLE_TIMEOUT = "livy.rsc.server.idle-timeout", "10m", "A driver that cannot reach the server this long exits.";
}
