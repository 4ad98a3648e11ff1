//! Wiring: store, launcher, cluster manager, reconciler and HTTP server, with
//! graceful shutdown. Applications keep running when the server stops; the
//! next start re-attaches to them through the store and their tags.

mod listener;
mod refusal;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{self, App};
use crate::cluster::ClusterManager;
use crate::config::Config;
use crate::index::Index;
use crate::launcher::Launcher;
use crate::launcher::logs::LogTails;
use crate::launcher::sandbox::Isolation;
use crate::leader::Timing;
use crate::reconcile::{Deps, Reconciler, Wake};
use crate::records::seal::Sealer;
use crate::repl::ReplHub;
use crate::repl::driver_build::DriverBuilder;
use crate::store::{EmbeddedStore, PostgresStore, SharedStore, StoreError};

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
    std::fs::create_dir_all(config.apps_dir()).map_err(|source| ServeError::DataDir {
        path: config.apps_dir().display().to_string(),
        source,
    })?;
    // The store holds session secrets and the logs hold users' output: only
    // the server's user may read them.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| ServeError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            })?;
    }
    let tasks = TaskTracker::new();
    let k8s = crate::k8s::connect(&config)
        .await
        .map_err(ServeError::Kubernetes)?
        .map(Arc::new);
    // Bound first: the servers sharing a store tell each other this port.
    let addr = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let mut postgres = None;
    let store: SharedStore = match (
        k8s.as_ref().and_then(|k| k.store(&tasks, &cancel)),
        &config.postgres,
    ) {
        (Some(store), _) => store,
        (None, Some(pg)) => {
            let store = PostgresStore::connect_with(&pg.connect, pg.tls.clone())
                .await
                .map_err(ServeError::Store)?;
            tracing::info!(
                host = ?pg.connect.get_hosts(),
                database = pg.connect.get_dbname(),
                tls = matches!(pg.tls, crate::store::PostgresTls::Tls(_)),
                identity = store.identity(),
                "records are in PostgreSQL; leader election on"
            );
            postgres = Some(store.clone());
            store
        }
        (None, None) => {
            Arc::new(EmbeddedStore::open(&config.store_path()).map_err(ServeError::Store)?)
        }
    };
    // The servers sharing records share a secret (for signed forwarding and
    // for the conf secrets sealed in records); a server alone seals with a
    // key in its data dir.
    let shared_secret = match (&k8s, &postgres) {
        (Some(k), _) if k.elects() || config.kubernetes.store => {
            Some(k.peer_secret().await.map_err(ServeError::Kubernetes)?)
        }
        (_, Some(store)) => Some(store.peer_secret().await.map_err(ServeError::Store)?),
        _ => None,
    };
    let sealer = Arc::new(sealer(shared_secret.as_deref(), &config.data_dir)?);
    let index = Index::load(store).await.map_err(ServeError::Store)?;
    index.spawn(&tasks, &cancel);
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
    let manager: Arc<dyn ClusterManager> = match k8s
        .as_ref()
        .and_then(|k| k.manager(launcher.clone(), &tasks, &cancel))
    {
        Some(manager) => manager,
        None => crate::cluster::manager_for(&config, launcher.clone()),
    };
    let logs = Arc::new(LogTails::new(config.cache_log_size).max_line_bytes(config.log_max_line));

    let hub = ReplHub::new(wake.clone(), tasks.clone());
    hub.retain_output_bytes(config.limits.session_max_retained_output);
    if postgres.is_some() || k8s.as_ref().is_some_and(|k| k.elects()) {
        // No driver is served before this server is elected.
        hub.stand_by();
    }
    let callback = hub
        .listen(
            &callback_host(&config),
            config.launcher_ports,
            cancel.clone(),
        )
        .await
        .map_err(ServeError::Callback)?;
    tracing::info!(addr = %callback, advertised = %config.launcher_address, "driver callback listener ready");
    let driver = Arc::new(DriverBuilder::new(
        config.driver_cache_dir.clone(),
        config.spark_home.clone(),
        config.r_command.clone(),
    ));
    // Compile the session driver now, so the first session does not wait for
    // it; then, for drivers on this host, its class-data archive.
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
    let _ = driver.poll(&tasks, then);
    let reconciler = Arc::new(Reconciler::new(Deps {
        index: index.clone(),
        manager: manager.clone(),
        launcher,
        config: config.clone(),
        logs: logs.clone(),
        hub: hub.clone(),
        driver,
        wake: wake.clone(),
        tasks: tasks.clone(),
        sealer: sealer.clone(),
    }));
    let mut auth =
        crate::auth::Auth::new(&config.auth, config.tls.is_some()).map_err(ServeError::Auth)?;
    // Under leader election: this server as the others reach it.
    let shared = advertised_callback(&config.launcher_address, callback.port());
    let me = |identity: &str| {
        let me = crate::ha::Peer {
            identity: identity.to_owned(),
            rest_url: crate::ha::rest_url(
                config.ha.advertised_url.as_deref(),
                tls.is_some(),
                &config.launcher_address,
                local.port(),
            ),
            callback: config
                .ha
                .advertised_callback
                .clone()
                .unwrap_or_else(|| shared.clone()),
        };
        tracing::info!(rest = %me.rest_url, callback = %me.callback, "this server, as the others reach it");
        me
    };
    // Servers forward to each other over HTTPS when they serve it, trusting
    // their own chain (they share the certificate or its CA).
    let peer_roots = match &config.tls {
        Some(source) => crate::tls::chain_certs(source).map_err(ServeError::Tls)?,
        None => Vec::new(),
    };
    let mut cluster = None;
    match (k8s, postgres, shared_secret) {
        // Replicas elect one through a Lease to reconcile and serve the
        // drivers; the holder writes where it is reached on the Lease.
        (Some(k), _, Some(secret)) if k.elects() => {
            let me = me(k.identity());
            let annotations = BTreeMap::from([
                (
                    crate::ha::REST_URL_ANNOTATION.to_owned(),
                    me.rest_url.clone(),
                ),
                (
                    crate::ha::CALLBACK_ANNOTATION.to_owned(),
                    me.callback.clone(),
                ),
            ]);
            let elector = k.lease_elector(annotations);
            // The shared address (a Service) stays on the drivers' list.
            let peers = crate::ha::Cluster::new(me, secret, vec![shared], &peer_roots)
                .map_err(ServeError::Peers)?;
            tasks.spawn(peers.clone().run_on_lease(
                elector,
                Timing::for_lease(config.kubernetes.lease_duration),
                reconciler,
                hub.clone(),
                cancel.clone(),
            ));
            auth = auth.with_peers(peers.clone());
            cluster = Some(peers);
        }
        // Servers sharing a PostgreSQL store elect one to reconcile and
        // serve the drivers.
        (None, Some(store), Some(secret)) => {
            let peers =
                crate::ha::Cluster::new(me(store.identity()), secret, vec![shared], &peer_roots)
                    .map_err(ServeError::Peers)?;
            tasks.spawn(peers.clone().run_on_postgres(
                store,
                config.ha.lease_duration,
                reconciler,
                hub.clone(),
                cancel.clone(),
            ));
            auth = auth.with_peers(peers.clone());
            cluster = Some(peers);
        }
        _ => {
            tasks.spawn(reconciler.run(cancel.clone()));
        }
    };
    let auth = Arc::new(auth);
    let app = Arc::new(App {
        auth,
        index,
        config: config.clone(),
        manager,
        logs,
        hub,
        wake,
        create_lock: Default::default(),
        pool: Default::default(),
        cluster,
        sealer,
    });
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
