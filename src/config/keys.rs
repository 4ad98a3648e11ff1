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
    BODY_TIMEOUT = "livy.server.request-body-timeout", "60s", "A client must send a request's whole body within this long of the end of its head, or it gets 408 and the connection is closed (a client trickling a body holds no connection for long).";
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
    LOG_MAX_LINE = "livy.server.log.max-line-bytes", "8k", "Longest log line kept in memory and returned by `/log`; the rest of a longer line is dropped and counted (`… [truncated N bytes]`). With `livy.cache-log.size` it bounds each application's log in memory.";
    REDACTION_REGEX = "livy.server.redaction.regex", "", "Conf entries whose key or value matches this pattern are shown as `*********(redacted)` in every API answer, UI page and server log line, and sealed (encrypted) in stored records (the application gets the real value). Empty: `spark.redaction.regex` from spark-defaults.conf, else Spark's default `(?i)secret|password|token|access[.]key`.";
    IMPERSONATION = "livy.impersonation.enabled", "false", "Let callers run applications as another user (`proxyUser`, `?doAs=`; `--proxy-user`): only as themselves unless they are superusers. With it on and no proxy user, applications run as their owner. When false, proxy users are ignored and reported as null.";
    AUTH_TYPE = "livy.server.auth.type", "", "How callers authenticate: `kerberos` (SPNEGO), `ldap` (HTTP Basic checked by an LDAP bind), `basic` (HTTP Basic against a file of password hashes). Empty: no authentication.";
    AUTH_KERBEROS_PRINCIPAL = "livy.server.auth.kerberos.principal", "", "With `kerberos`: the HTTP service principal, e.g. `HTTP/_HOST@EXAMPLE.COM` (`_HOST` becomes this host's name).";
    AUTH_KERBEROS_KEYTAB = "livy.server.auth.kerberos.keytab", "", "With `kerberos`: the keytab holding the service principal's key.";
    AUTH_KERBEROS_NAME_RULES = "livy.server.auth.kerberos.name-rules", "DEFAULT", "With `kerberos`: how principals become user names. Only `DEFAULT` (a principal of the service's realm becomes its first component).";
    AUTH_LDAP_URL = "livy.server.auth.ldap.url", "", "With `ldap`: the server, `ldap://host:port` or `ldaps://host:port`.";
    AUTH_LDAP_BASE_DN = "livy.server.auth.ldap.base-dn", "", "With `ldap`: users bind as `uid=<user>,<base-dn>`.";
    AUTH_LDAP_USERNAME_DOMAIN = "livy.server.auth.ldap.username-domain", "", "With `ldap`: a user name without a realm becomes `<user>@<domain>` before binding.";
    AUTH_LDAP_START_TLS = "livy.server.auth.ldap.enable-start-tls", "false", "With `ldap`: upgrade the connection with StartTLS before binding.";
    AUTH_LDAP_SECURITY_AUTHENTICATION = "livy.server.auth.ldap.security-authentication", "simple", "With `ldap`: the bind mechanism; only `simple`.";
    AUTH_PASSWORD_CACHE_TTL = "livy.server.auth.password-cache-ttl", "60s", "With `ldap` or `basic`: how long a successful password check is remembered, so a client that sends Basic credentials on every request (and ignores the cookie) is not bound or hashed each time (`0`: never).";
    AUTH_MAX_CONCURRENT_CHECKS = "livy.server.auth.max-concurrent-checks", "2", "With `basic`: at most this many password hashes (Argon2, 19 MiB and tens of milliseconds each) are checked at once; other checks wait for a turn.";
    AUTH_CHECK_WAIT = "livy.server.auth.check-wait", "2s", "With `basic`: a password check that has not had its turn this long is answered 429 with `Retry-After`.";
    AUTH_FAILURE_LIMIT = "livy.server.auth.failure-limit", "10", "With `ldap` or `basic`: a client address whose password checks failed this many times within `failure-window` gets 429 with `Retry-After` for further credentials (not for a cookie or credentials that were accepted recently) until the window ends. 0: no limit.";
    AUTH_FAILURE_WINDOW = "livy.server.auth.failure-window", "60s", "With `failure-limit`: the period over which a client's failed password checks are counted.";
    AUTH_BASIC_USERS_FILE = "livy.server.auth.basic.users-file", "", "With `basic`: a file of `user:<argon2 hash>` lines; `livy-server hash-password` prints a hash.";
    AUTH_COOKIE_VALIDITY = "livy.server.auth.cookie.validity", "10h", "How long the signed `hadoop.auth` cookie issued after a successful authentication is accepted instead of credentials.";
    AUTH_COOKIE_SECRET_FILE = "livy.server.auth.cookie.secret-file", "", "File holding the cookie signing secret, to share cookies between servers. Empty: a random secret per process.";
    ACCESS_CONTROL = "livy.server.access-control.enabled", "false", "Check view and modify access on every session and batch (needs `livy.server.auth.type`).";
    ACCESS_ALLOWED_USERS = "livy.server.access-control.allowed-users", "*", "With access control: who may use the server at all (besides the view, modify and super users); `*` is everyone.";
    ACCESS_VIEW_USERS = "livy.server.access-control.view-users", "", "With access control: who may view every session and batch (logs, statements).";
    ACCESS_MODIFY_USERS = "livy.server.access-control.modify-users", "", "With access control: who may modify every session and batch (delete, stop, statements, cancel).";
    SUPERUSERS = "livy.superusers", "", "Users who may view and modify everything and impersonate anyone.";
    CSRF = "livy.server.csrf-protection.enabled", "false", "Require an `X-Requested-By` header on every request but GET, HEAD and OPTIONS.";
    POLL_INTERVAL = "livy.server.poll-interval", "1s", "How often the reconciler observes applications when nothing wakes it sooner.";
    APP_LOOKUP_TIMEOUT = "livy.server.app-lookup-timeout", "30s", "A submitted application the cluster manager cannot find for this long ends `dead`.";
    KILL_GRACE = "livy.server.kill.grace-period", "5s", "Time between SIGTERM and SIGKILL when stopping an application's processes.";
    MAX_BODY = "livy.server.request.max-body-size", "1m", "Largest request body accepted; larger ones get 413.";
    LAUNCH_ISOLATION = "livy.server.launch.isolation", "namespaces", "How applications whose driver runs on this host (local masters, client mode, the warm pool) are kept from the server's secrets and each other: `namespaces` runs each in a bubblewrap (`bwrap`) sandbox (own PID and IPC namespaces, a read-only view of only the system, Spark, Java, Python and R, its own application directory the only writable place, no capabilities, an allow-listed environment); the server does not start if `bwrap` is missing. `none` runs them as the server runs, with its environment: with authentication on it must be set explicitly, and a warning is logged at every start. See \"Security model\".";
    LAUNCH_ENV_ALLOW = "livy.server.launch.env.allow", "", "Comma-separated names of server environment variables sandboxed applications keep besides those Spark, Java, Python and R need (`PATH`, `JAVA_HOME`, `SPARK_*` locations, `HADOOP_CONF_DIR`, `PYSPARK_PYTHON`, `R_*`, locale, …); a trailing `*` allows a prefix.";
    LAUNCH_SANDBOX_PATHS = "livy.server.launch.sandbox.paths", "", "Comma-separated absolute host paths sandboxed applications see read-only besides the system directories, the Spark, Java, Python and R installations, `livy.file.local-dir-whitelist` and the Spark/Hadoop conf dirs (the server's data dir and the secret files the configuration names stay hidden even inside them).";
    LAUNCH_SANDBOX_WRITABLE = "livy.server.launch.sandbox.writable-paths", "", "Comma-separated absolute host directories sandboxed applications may write besides their own application directory (e.g. a local output directory in local mode); secrets inside them stay hidden.";
    MAX_DRIVER_CORES = "livy.server.request.max-driver-cores", "64", "Largest `driverCores` a request may ask for; more gets 400 naming this key.";
    MAX_EXECUTOR_CORES = "livy.server.request.max-executor-cores", "64", "Largest `executorCores` a request may ask for; more gets 400 naming this key.";
    MAX_NUM_EXECUTORS = "livy.server.request.max-num-executors", "10000", "Largest `numExecutors` a request may ask for; more gets 400 naming this key.";
    MAX_DRIVER_MEMORY = "livy.server.request.max-driver-memory", "512g", "Largest `driverMemory` a request may ask for (a size without unit is MiB, as in Spark); more gets 400 naming this key.";
    MAX_EXECUTOR_MEMORY = "livy.server.request.max-executor-memory", "512g", "Largest `executorMemory` a request may ask for (a size without unit is MiB, as in Spark); more gets 400 naming this key.";
    LAUNCH_RETRIES = "livy.server.launch.max-retries", "3", "Transient launch failures retried (with backoff) before a batch ends `dead`.";
    YARN_RM_ADDRESS = "livy.server.yarn.rm-address", "", "ResourceManager web addresses (`host:port` or URLs), comma-separated for RM HA. Empty: `yarn.resourcemanager.webapp.address` (or its HA variants) from `$HADOOP_CONF_DIR/yarn-site.xml`.";
    YARN_POLL_INTERVAL = "livy.server.yarn.poll-interval", "5s", "With a YARN master: at most one ResourceManager application list per this interval.";
    YARN_APP_LOOKUP_TIMEOUT = "livy.server.yarn.app-lookup-timeout", "120s", "With a YARN master: a submitted application YARN does not know for this long ends `dead`.";
    SPARK_MASTER_REST = "livy.server.spark.master-rest", "", "Standalone master REST submission servers (`host:port`, comma-separated), used to kill cluster-mode drivers. Empty: each master's host on port 6066.";
    SPARK_MASTER_UI = "livy.server.spark.master-ui", "", "Standalone master web UI addresses (`host:port` or URLs, comma-separated for HA). Empty: each `spark://host:port` master's host on port 8080.";
    DRIVER_JAVA_OPTIONS = "livy.rsc.driver.java-options", "", "JVM options of interactive session drivers that run on this host (client deploy mode), used only when neither the request's `conf` nor spark-defaults.conf sets `spark.driver.extraJavaOptions` (e.g. `-XX:TieredStopAtLevel=1`: starts 0.8 s sooner, runs Spark jobs 2.7x slower in local mode; `hack/bench/cold.sh`).";
    DRIVER_CLASS_DATA_SHARING = "livy.rsc.driver.class-data-sharing", "true", "Build once per Spark version and driver build a class-data-sharing archive (AppCDS) of what a session driver loads, and start drivers on this host with it (with the `java-options` above, under the same condition).";
    DRIVER_CACHE_DIR = "livy.server.driver.cache-dir", "", "Where the session driver, compiled once per driver source and Spark version, is cached. Empty: `<data-dir>/driver`.";
    LEAK_TIMEOUT = "livy.server.app-leakage.check-timeout", "600s", "An application given up on (deleted, or not found in time) is watched this long and killed if it appears.";
    METRICS_ENABLED = "livy.server.metrics.enabled", "true", "Record Prometheus metrics and serve them at `/metrics` (requests and latencies, launches, statements, reconcile, store and cluster-manager calls). `false`: nothing is recorded and `/metrics` answers 404; `/metrics/ping` stays.";
    POOL_SIZE = "livy.server.session.pool.size", "0", "Session drivers kept started and warm (Scala, Python and, where installed, R up; a first job run through Scala and Python) for `POST /sessions` requests that ask for no launch settings of their own (no conf, jars, files, resources or proxy user); they count toward `max-creation` while they start. 0: no pool.";
    POOL_TTL = "livy.server.session.pool.ttl", "1h", "A pooled driver unused this long is replaced by a fresh one.";
    SESSION_TIMEOUT = "livy.server.session.timeout", "1h", "An interactive session idle this long (no statement waiting or running, none submitted) is deleted. 0 disables.";
    CONNECT_TIMEOUT = "livy.rsc.server.connect.timeout", "90s", "A session whose driver has not called back this long after launch ends `error` and its application is killed.";
    LAUNCHER_ADDRESS = "livy.rsc.launcher.address", "", "Address drivers dial back to (advertised to the driver). Empty: 127.0.0.1 for local masters, else this host's name.";
    LAUNCHER_PORT_RANGE = "livy.rsc.launcher.port.range", "10000~10010", "Ports tried, in order, for the driver callback listener (`0~0`: any free port).";
    STATEMENT_SYNC_WAIT = "livy.server.statement.sync-wait", "250ms", "`POST /sessions/{id}/statements` waits this long for the statement to finish and, if it did, answers it `available` with its output (Livy always answers `waiting`). `0` gives Livy's exact behaviour.";
    STATEMENT_MAX_CODE = "livy.server.statement.max-code-bytes", "512k", "Longest statement `code` accepted; longer gets 413 naming this key.";
    STATEMENT_MAX_OUTPUT = "livy.server.statement.max-output-bytes", "8m", "Largest statement output a session driver keeps and sends: a longer one is cut (its text ends `… [truncated N bytes]`). A Python or R statement whose output is over twice this on one line of the interpreter's protocol fails with `OutputTooLarge`; the session goes on.";
    SESSION_MAX_RETAINED_OUTPUT = "livy.server.session.max-retained-output-bytes", "64m", "Statement output the server keeps in memory per session: past it, the outputs of the oldest finished statements are dropped (the statements stay listed, their output a note saying so). 0: no limit.";
    STATEMENT_RECOVERY_WAIT = "livy.server.statement.recovery-wait", "15s", "A statement posted to a recovered session (server restart) before its driver has re-dialled and re-sent its history waits this long, then gets a retryable 503.";
    RSC_JARS = "livy.rsc.jars", "", "Jars every session driver gets (added to its `spark.jars`), comma-separated local paths: Livy's `livy-api` and `livy-client-http` jars (0.7.1-incubating, the newest on Maven Central: `livy-client-http` carries the `Serializer` with the Kryo its clients encode jobs with), which Java jobs of the Job API need (`hack/run.sh` passes the ones `hack/setup.sh` fetched). Empty: a Java job fails with a message naming this key.";
    JOB_RETENTION = "livy.server.session.job-retention", "1h", "A finished Job API job's status (and result) is kept this long, then `GET …/jobs/{id}` answers 404.";
    UPLOAD_MAX = "livy.server.session.upload-max-bytes", "50m", "Largest file `POST …/upload-jar`, `…/upload-file` and `…/upload-pyfile` accept; larger gets 413 naming this key.";
    SQL_NUM_ROWS = "livy.rsc.sql.num-rows", "1000", "Rows returned by a `sql` statement at most.";
    DRIVER_IDLE_TIMEOUT = "livy.rsc.server.idle-timeout", "10m", "A driver that cannot reach the server this long exits.";
    STATE_STORE = "livy.server.recovery.state-store", "", "`kubernetes`: keep batches and sessions as `LivyBatch`/`LivySession` custom resources (in-cluster credentials or a kubeconfig). `postgres`: in a PostgreSQL database (`…state-store.url`). Empty: the embedded store under the data dir.";
    STATE_STORE_URL = "livy.server.recovery.state-store.url", "", "With the `postgres` store: `postgres://user@host:port/database` (no password in it: use `…state-store.password-file` or `PGPASSWORD`). TLS as libpq reads `?sslmode=` (`disable`, `prefer` — the default —, `require`, `verify-ca`, `verify-full`) and `&sslrootcert=` (a PEM file of roots; else the system's).";
    STATE_STORE_PASSWORD_FILE = "livy.server.recovery.state-store.password-file", "", "With the `postgres` store: a file holding the database password (else `PGPASSWORD`, else none).";
    HA_LEASE_DURATION = "livy.server.ha.lease-duration", "15s", "With the `postgres` store, servers elect the one that reconciles through a lease row; a leader that stops renewing is replaced after this long (at least 2s).";
    HA_ADVERTISED_URL = "livy.server.ha.advertised-url", "", "Under leader election (the `postgres` store, or Kubernetes leader election): the REST address other servers forward session calls to while this one leads (default `http[s]://<launcher address>:<port>`).";
    HA_ADVERTISED_CALLBACK = "livy.server.ha.advertised-callback", "", "Under leader election: `host:port` where drivers reach this very server's callback listener (default `<launcher address>:<callback port>`; in Kubernetes the pod's IP, as the launcher address is the shared Service).";
    K8S_NAMESPACE = "livy.server.kubernetes.namespace", "", "Namespace of the custom resources, the id ConfigMap and the Lease. Empty: the pod's own namespace (or the kubeconfig's).";
    K8S_SPARK_NAMESPACE = "livy.server.kubernetes.spark-namespace", "", "With a `k8s://` master: namespace of Spark driver and executor pods. Empty: the store's namespace.";
    K8S_SPARK_SERVICE_ACCOUNT = "livy.server.kubernetes.spark-service-account", "", "With a `k8s://` master: service account of driver pods (`spark.kubernetes.authenticate.driver.serviceAccountName`). Empty: Spark's default.";
    K8S_ID_CONFIGMAP = "livy.server.kubernetes.id-configmap", "livy-server-ids", "ConfigMap holding the next Livy id of each kind (updated with optimistic concurrency by every replica).";
    K8S_LEADER_ELECTION = "livy.server.kubernetes.leader-election.enabled", "false", "Elect one replica through a Lease to run the reconciler; every replica serves the REST API. Needed with more than one replica.";
    K8S_LEASE_NAME = "livy.server.kubernetes.leader-election.lease-name", "livy-server", "Name of the coordination.k8s.io Lease used for leader election.";
    K8S_LEASE_DURATION = "livy.server.kubernetes.leader-election.lease-duration", "15s", "A leader that stops renewing is replaced after this long.";
}
