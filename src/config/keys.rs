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
    KEYSTORE = "livy.keystore", "", "PKCS#12 keystore (`.p12`) with the REST API's private key and certificate chain; when set, the API speaks HTTPS only and the server does not start if the keystore cannot be used. A JKS/JCEKS keystore is refused: convert it with `keytool -importkeystore -srckeystore livy.jks -destkeystore livy.p12 -deststoretype PKCS12`.";
    KEYSTORE_PASSWORD = "livy.keystore.password", "", "Password of `livy.keystore`. Prefer livy.conf or `LIVY_KEYSTORE_PASSWORD` to `--conf`, which `ps` shows.";
    KEY_PASSWORD = "livy.key-password", "", "Password of the key in `livy.keystore`. A PKCS#12 file has one password, so this must equal `livy.keystore.password` (or stand in for it when that is unset).";
    KEYSTORE_TYPE = "livy.keystore.type", "JKS", "`PKCS12`, or `JKS` (Livy's default) for a file that is really PKCS#12: the file's content decides, and a real JKS/JCEKS keystore is refused.";
    TLS_CERT_FILE = "livy.server.tls.cert-file", "", "PEM certificate chain (leaf first) for HTTPS, with `livy.server.tls.key-file`; instead of `livy.keystore`.";
    TLS_KEY_FILE = "livy.server.tls.key-file", "", "PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted) of `livy.server.tls.cert-file`.";
    TLS_HANDSHAKE_TIMEOUT = "livy.server.tls.handshake-timeout", "10s", "With HTTPS: a client that has not finished the TLS handshake this long after connecting is disconnected.";
    HEADER_TIMEOUT = "livy.server.request-header-timeout", "30s", "A client must send a request's whole head (request line and headers) within this long of its first byte, or the connection is closed.";
    IDLE_TIMEOUT = "livy.server.idle-timeout", "60s", "A keep-alive connection with no request in flight and no byte of a new one for this long is closed.";
    SHUTDOWN_GRACE = "livy.server.shutdown.grace-period", "10s", "On SIGTERM the REST API stops accepting connections and lets open requests finish for this long, then closes them.";
    MAX_URI = "livy.server.request.max-uri-length", "8k", "Longest request URI accepted (at most 60k); longer ones get 414.";
    MAX_HEADER = "livy.server.request.max-header-size", "64k", "Largest request header section accepted (names, values and line ends; at most 1m), and at most 100 header fields; more gets 431.";
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
    YARN_RM_ADDRESS = "livy.server.yarn.rm-address", "", "ResourceManager web addresses (`host:port` or URLs), comma-separated for RM HA. Empty: `yarn.resourcemanager.webapp.address` (or its HA variants) from `$HADOOP_CONF_DIR/yarn-site.xml`.";
    YARN_POLL_INTERVAL = "livy.server.yarn.poll-interval", "5s", "With a YARN master: at most one ResourceManager application list per this interval.";
    YARN_APP_LOOKUP_TIMEOUT = "livy.server.yarn.app-lookup-timeout", "120s", "With a YARN master: a submitted application YARN does not know for this long ends `dead`.";
    SPARK_MASTER_REST = "livy.server.spark.master-rest", "", "Standalone master REST submission servers (`host:port`, comma-separated), used to kill cluster-mode drivers. Empty: each master's host on port 6066.";
    SPARK_MASTER_UI = "livy.server.spark.master-ui", "", "Standalone master web UI addresses (`host:port` or URLs, comma-separated for HA). Empty: each `spark://host:port` master's host on port 8080.";
    DRIVER_CACHE_DIR = "livy.server.driver.cache-dir", "", "Where the session driver, compiled once per driver source and Spark version, is cached. Empty: `<data-dir>/driver`.";
    LEAK_TIMEOUT = "livy.server.app-leakage.check-timeout", "600s", "An application given up on (deleted, or not found in time) is watched this long and killed if it appears.";
    SESSION_TIMEOUT = "livy.server.session.timeout", "1h", "An interactive session idle this long (no statement waiting or running, none submitted) is deleted. 0 disables.";
    CONNECT_TIMEOUT = "livy.rsc.server.connect.timeout", "90s", "A session whose driver has not called back this long after launch ends `error` and its application is killed.";
    LAUNCHER_ADDRESS = "livy.rsc.launcher.address", "", "Address drivers dial back to (advertised to the driver). Empty: 127.0.0.1 for local masters, else this host's name.";
    LAUNCHER_PORT_RANGE = "livy.rsc.launcher.port.range", "10000~10010", "Ports tried, in order, for the driver callback listener (`0~0`: any free port).";
    STATEMENT_SYNC_WAIT = "livy.server.statement.sync-wait", "250ms", "`POST /sessions/{id}/statements` waits this long for the statement to finish and, if it did, answers it `available` with its output (Livy always answers `waiting`). `0` gives Livy's exact behaviour.";
    STATEMENT_RECOVERY_WAIT = "livy.server.statement.recovery-wait", "15s", "A statement posted to a recovered session (server restart) before its driver has re-dialled and re-sent its history waits this long, then gets a retryable 503.";
    SQL_NUM_ROWS = "livy.rsc.sql.num-rows", "1000", "Rows returned by a `sql` statement at most.";
    DRIVER_IDLE_TIMEOUT = "livy.rsc.server.idle-timeout", "10m", "A driver that cannot reach the server this long exits.";
    STATE_STORE = "livy.server.recovery.state-store", "", "`kubernetes`: keep batches and sessions as `LivyBatch`/`LivySession` custom resources (in-cluster credentials or a kubeconfig). Empty: the embedded store under the data dir.";
    K8S_NAMESPACE = "livy.server.kubernetes.namespace", "", "Namespace of the custom resources, the id ConfigMap and the Lease. Empty: the pod's own namespace (or the kubeconfig's).";
    K8S_SPARK_NAMESPACE = "livy.server.kubernetes.spark-namespace", "", "With a `k8s://` master: namespace of Spark driver and executor pods. Empty: the store's namespace.";
    K8S_SPARK_SERVICE_ACCOUNT = "livy.server.kubernetes.spark-service-account", "", "With a `k8s://` master: service account of driver pods (`spark.kubernetes.authenticate.driver.serviceAccountName`). Empty: Spark's default.";
    K8S_ID_CONFIGMAP = "livy.server.kubernetes.id-configmap", "livy-server-ids", "ConfigMap holding the next Livy id of each kind (updated with optimistic concurrency by every replica).";
    K8S_LEADER_ELECTION = "livy.server.kubernetes.leader-election.enabled", "false", "Elect one replica through a Lease to run the reconciler; every replica serves the REST API. Needed with more than one replica.";
    K8S_LEASE_NAME = "livy.server.kubernetes.leader-election.lease-name", "livy-server", "Name of the coordination.k8s.io Lease used for leader election.";
    K8S_LEASE_DURATION = "livy.server.kubernetes.leader-election.lease-duration", "15s", "A leader that stops renewing is replaced after this long.";
}
