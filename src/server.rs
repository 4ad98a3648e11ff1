//! Wiring: store, launcher, cluster manager, reconciler and HTTP server, with
//! graceful shutdown. Applications keep running when the server stops; the
//! next start re-attaches to them through the store and their tags.

mod listener;
mod mode;
mod refusal;

pub use mode::{Election, Mode};

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, App};
use crate::cluster::ClusterManager;
use crate::config::Config;
use crate::ha::{CALLBACK_ANNOTATION, Cluster, Peer, REST_URL_ANNOTATION};
use crate::index::Index;
use crate::launcher::Launcher;
use crate::launcher::logs::LogTails;
use crate::launcher::sandbox::Isolation;
use crate::leader::Timing;
use crate::leadership::Leadership;
use crate::reconcile::{Deps, Reconciler, Wake};
use crate::records::seal::Sealer;
use crate::repl::ReplHub;
use crate::repl::driver_build::DriverBuilder;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("failed to set up HTTPS for the REST API")]
    Tls(#[source] crate::tls::TlsError),
    #[error("failed to create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to open the store")]
    Store(#[source] StoreError),
    #[error("failed to set up forwarding between the servers")]
    Peers(String),
    #[error("failed to find the livy-server executable (needed to supervise applications)")]
    CurrentExe(#[source] std::io::Error),
    #[error("failed to listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start the driver callback listener")]
    Callback(#[source] crate::repl::ReplError),
    #[error("failed to start Kubernetes mode")]
    Kubernetes(#[source] crate::k8s::K8sError),
    #[error("failed to set up authentication")]
    Auth(#[source] crate::auth::AuthSetupError),
    #[error("{0}")]
    Isolation(String),
}

/// Where a server alone keeps the key of its sealed conf values (records::seal).
const SEAL_KEY_FILE: &str = "conf-seal.key";

/// The sealer of conf secrets: from the secret the servers sharing records
/// share, else from this server's key file.
fn sealer(shared: Option<&str>, data_dir: &std::path::Path) -> Result<Sealer, ServeError> {
    if let Some(secret) = shared {
        return Ok(Sealer::new(secret.as_bytes()));
    }
    let path = data_dir.join(SEAL_KEY_FILE);
    let key = local_seal_key(&path).map_err(|source| ServeError::DataDir {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Sealer::new(&key))
}

/// The key in `path`, made (48 random characters, mode 0600) on first use.
fn local_seal_key(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {
            return Err(std::io::Error::other(
                "shorter than 32 bytes; remove it only if no record holds values sealed with it",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = crate::random_token(48).into_bytes();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&key)?;
    f.sync_all()?;
    Ok(key)
}

/// How drivers on this host will run; refuses to start where isolation is
/// asked for, drivers certainly run here, and it cannot be had.
fn isolation(config: &Config) -> Result<Isolation, ServeError> {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let isolation = Isolation::for_server(config, &env);
    let drivers_here = config.spark_master.starts_with("local")
        || config.spark_master.starts_with("spark://")
        || config.deploy_mode.as_deref() != Some("cluster");
    match &isolation {
        Isolation::On(_) => {
            tracing::info!("applications with a driver on this host run in a bubblewrap sandbox")
        }
        Isolation::Unavailable(why) if drivers_here => {
            return Err(ServeError::Isolation(why.clone()));
        }
        Isolation::Unavailable(why) => {
            tracing::warn!(why, "drivers placed on this host will not be launched")
        }
        Isolation::Off if config.auth.method != crate::config::auth::AuthMethod::Off => {
            tracing::warn!(
                "livy.server.launch.isolation = none: session and batch code on this host runs as the server, with its environment, and can read its secrets"
            )
        }
        Isolation::Off => {}
    }
    Ok(isolation)
}

/// Runs the server until `cancel` fires.
pub async fn serve(config: Config, cancel: CancellationToken) -> Result<(), ServeError> {
    // First: a server asked for TLS that cannot have it must not start at all.
    let tls = match config.tls.clone() {
        Some(source) => Some(crate::tls::load(source).await.map_err(ServeError::Tls)?),
        None => None,
    };
    // The metrics recorder, before anything records.
    if config.metrics {
        crate::metrics::handle();
    }
    let isolation = isolation(&config)?;
    let config = Arc::new(config);
    prepare_data_dir(&config)?;
    let tasks = TaskTracker::new();
    let k8s = crate::k8s::connect(&config)
        .await
        .map_err(ServeError::Kubernetes)?
        .map(Arc::new);
    // Bound first: the servers sharing a store tell each other this port.
    let (listener, local) = bind(&config).await?;
    let mode = Mode::open(&config, k8s.as_ref(), &tasks, &cancel).await?;
    let secret = mode.peer_secret().await?;
    let sealer = Arc::new(sealer(secret.as_deref(), &config.data_dir)?);
    let index = Index::load(mode.store()).await.map_err(ServeError::Store)?;
    index.spawn(&tasks, &cancel);
    // Under election, no driver is served before this server is elected.
    let (election, leadership) = (mode.election(), mode.leadership());
    let k8s = k8s.as_ref();
    let parts = Parts::build(&config, k8s, isolation, leadership, &tasks, &cancel).await?;
    let callback = listen_for_drivers(&config, &parts.hub, &cancel).await?;
    let reconciler = parts.reconciler(&config, &index, &sealer, &tasks);
    let auth =
        crate::auth::Auth::new(&config.auth, config.tls.is_some()).map_err(ServeError::Auth)?;
    let here = Here {
        config: &config,
        tls: tls.is_some(),
        rest_port: local.port(),
        callback_port: callback.port(),
    };
    let elected = election.zip(secret);
    let cluster = start_reconciling(elected, &here, reconciler, &parts.hub, &tasks, &cancel)?;
    let auth = match &cluster {
        Some(peers) => auth.with_peers(peers.clone()),
        None => auth,
    };
    let app = parts.app(config.clone(), index, auth, cluster, sealer);
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, scheme, master = %config.spark_master, data_dir = %config.data_dir.display(), "livy-server listening");
    let limits = refusal::Limits::from_config(&config);
    listener::run(listener, tls, api::router(app), limits, cancel.clone()).await;
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    tracing::info!(
        "livy-server stopped; running applications continue and are re-attached on the next start"
    );
    Ok(())
}

/// The REST API's listener, and its address.
async fn bind(config: &Config) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let addr = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    Ok((listener, local))
}

/// Makes the applications' directory, and lets only the server's user read
/// the data dir: the store holds session secrets and the logs users' output.
fn prepare_data_dir(config: &Config) -> Result<(), ServeError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(config.apps_dir()).map_err(|source| ServeError::DataDir {
        path: config.apps_dir().display().to_string(),
        source,
    })?;
    std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(
        |source| ServeError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        },
    )
}

/// What the reconciler and the REST API are built from.
struct Parts {
    wake: Arc<Wake>,
    launcher: Arc<Launcher>,
    manager: Arc<dyn ClusterManager>,
    logs: Arc<LogTails>,
    hub: Arc<ReplHub>,
    driver: Arc<DriverBuilder>,
}

impl Parts {
    async fn build(
        config: &Arc<Config>,
        k8s: Option<&Arc<crate::k8s::K8sMode>>,
        isolation: Isolation,
        leadership: Arc<Leadership>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) -> Result<Self, ServeError> {
        let wake = Arc::new(Wake::new());
        let exe = std::env::current_exe().map_err(ServeError::CurrentExe)?;
        let launcher = Arc::new(
            Launcher::new(
                config.apps_dir(),
                exe,
                config.spark_home.clone(),
                wake.clone(),
            )
            .with_isolation(isolation),
        );
        let manager: Arc<dyn ClusterManager> =
            match k8s.and_then(|k| k.manager(launcher.clone(), tasks, cancel)) {
                Some(manager) => manager,
                None => crate::cluster::manager_for(config, launcher.clone()),
            };
        let logs =
            Arc::new(LogTails::new(config.cache_log_size).max_line_bytes(config.log_max_line));
        let hub = ReplHub::led_by(wake.clone(), tasks.clone(), leadership);
        hub.retain_output_bytes(config.limits.session_max_retained_output);
        Ok(Self {
            wake,
            launcher,
            manager,
            logs,
            hub,
            driver: build_driver(config, tasks),
        })
    }

    fn reconciler(
        &self,
        config: &Arc<Config>,
        index: &Arc<Index>,
        sealer: &Arc<Sealer>,
        tasks: &TaskTracker,
    ) -> Arc<Reconciler> {
        Arc::new(Reconciler::new(Deps {
            index: index.clone(),
            manager: self.manager.clone(),
            launcher: self.launcher.clone(),
            config: config.clone(),
            logs: self.logs.clone(),
            hub: self.hub.clone(),
            driver: self.driver.clone(),
            wake: self.wake.clone(),
            tasks: tasks.clone(),
            sealer: sealer.clone(),
        }))
    }

    fn app(
        self,
        config: Arc<Config>,
        index: Arc<Index>,
        auth: crate::auth::Auth,
        cluster: Option<Arc<Cluster>>,
        sealer: Arc<Sealer>,
    ) -> Arc<App> {
        Arc::new(App {
            auth: Arc::new(auth),
            index,
            config,
            manager: self.manager,
            logs: self.logs,
            hub: self.hub,
            wake: self.wake,
            create_lock: Default::default(),
            pool: Default::default(),
            cluster,
            sealer,
        })
    }
}

/// Starts the driver callback listener; returns where it listens.
async fn listen_for_drivers(
    config: &Config,
    hub: &Arc<ReplHub>,
    cancel: &CancellationToken,
) -> Result<SocketAddr, ServeError> {
    let callback = hub
        .listen(
            &callback_host(config),
            config.launcher_ports,
            cancel.clone(),
        )
        .await
        .map_err(ServeError::Callback)?;
    tracing::info!(addr = %callback, advertised = %config.launcher_address, "driver callback listener ready");
    Ok(callback)
}

/// Compiles the session driver now, so the first session does not wait for
/// it; then, for drivers on this host, its class-data archive.
fn build_driver(config: &Config, tasks: &TaskTracker) -> Arc<DriverBuilder> {
    let driver = Arc::new(DriverBuilder::new(
        config.driver_cache_dir.clone(),
        config.spark_home.clone(),
        config.r_command.clone(),
    ));
    let archive =
        config.driver_class_data_sharing && config.deploy_mode.as_deref() != Some("cluster");
    let then = {
        let (d, t) = (driver.clone(), tasks.clone());
        let (spark_home, options) = (
            config.spark_home.clone(),
            config.driver_java_options.clone(),
        );
        move || {
            if let Some(Ok(built)) = archive.then(|| d.poll(&t, || {})).flatten() {
                t.spawn(crate::repl::class_data::build(
                    spark_home, built.jar, options,
                ));
            }
        }
    };
    let _ = driver.poll(tasks, then);
    driver
}

/// This server as the others sharing its records reach it.
struct Here<'a> {
    config: &'a Config,
    tls: bool,
    rest_port: u16,
    callback_port: u16,
}

impl Here<'_> {
    /// The servers sharing the records, this one named `identity`.
    fn cluster(&self, identity: &str, secret: String) -> Result<Arc<Cluster>, ServeError> {
        let config = self.config;
        let shared = advertised_callback(&config.launcher_address, self.callback_port);
        let me = Peer {
            identity: identity.to_owned(),
            rest_url: crate::ha::rest_url(
                config.ha.advertised_url.as_deref(),
                self.tls,
                &config.launcher_address,
                self.rest_port,
            ),
            callback: config
                .ha
                .advertised_callback
                .clone()
                .unwrap_or_else(|| shared.clone()),
        };
        tracing::info!(rest = %me.rest_url, callback = %me.callback, "this server, as the others reach it");
        // Servers forward to each other over HTTPS when they serve it,
        // trusting their own chain (they share the certificate or its CA).
        let peer_roots = match &config.tls {
            Some(source) => crate::tls::chain_certs(source).map_err(ServeError::Tls)?,
            None => Vec::new(),
        };
        // The shared address (e.g. a Service) stays on the drivers' list.
        Cluster::new(me, secret, vec![shared], &peer_roots).map_err(ServeError::Peers)
    }
}

/// Starts the reconciler: at once for a server alone; under an election
/// (with the secret the servers share), in each term this server leads.
/// Returns the servers sharing the records (`None`: this one alone).
fn start_reconciling(
    elected: Option<(Election, String)>,
    here: &Here,
    reconciler: Arc<Reconciler>,
    hub: &Arc<ReplHub>,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<Option<Arc<Cluster>>, ServeError> {
    let Some((election, secret)) = elected else {
        tasks.spawn(reconciler.run(cancel.clone()));
        return Ok(None);
    };
    let peers = here.cluster(election.identity(), secret)?;
    let hub = hub.clone();
    tasks.spawn(elect(
        election,
        peers.clone(),
        here.config,
        reconciler,
        hub,
        cancel,
    ));
    Ok(Some(peers))
}

/// Runs elections until `cancel`: the leader reconciles and serves the
/// drivers. On a Lease, the holder writes where it is reached there.
fn elect(
    election: Election,
    peers: Arc<Cluster>,
    config: &Config,
    reconciler: Arc<Reconciler>,
    hub: Arc<ReplHub>,
    cancel: &CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let cancel = cancel.clone();
    let lease = config.kubernetes.lease_duration;
    let row_lease = config.ha.lease_duration;
    async move {
        match election {
            Election::Lease(k8s) => {
                let annotations = BTreeMap::from([
                    (REST_URL_ANNOTATION.to_owned(), peers.me.rest_url.clone()),
                    (CALLBACK_ANNOTATION.to_owned(), peers.me.callback.clone()),
                ]);
                let elector = k8s.lease_elector(annotations);
                let timing = Timing::for_lease(lease);
                peers
                    .run_on_lease(elector, timing, reconciler, hub, cancel)
                    .await
            }
            Election::Row(store) => {
                peers
                    .run_on_postgres(store, row_lease, reconciler, hub, cancel)
                    .await
            }
        }
    }
}

/// `host:port` as drivers dial it (IPv6 hosts bracketed).
fn advertised_callback(host: &str, port: u16) -> String {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    }
}

/// Where the driver callback listener binds: loopback when drivers are
/// told to dial a loopback address (local masters), so the channel never
/// leaves the host; else the REST API's address.
fn callback_host(config: &Config) -> String {
    let advertised = config.launcher_address.as_str();
    match advertised.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip.to_string(),
        _ if advertised.eq_ignore_ascii_case("localhost") => "127.0.0.1".to_owned(),
        _ => config.host.to_string(),
    }
}
