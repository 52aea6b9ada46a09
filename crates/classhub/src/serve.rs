//! `classhub serve`: the API listener, the metrics listener, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use classhub_core::secret::SecretBox;
use classhub_store::Store;
use classhub_web::jwt::JwtKeys;
use classhub_web::{ApiConfig, AppState};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::ServeArgs;

pub async fn run(store: Arc<Store>, args: ServeArgs, secrets: SecretBox) -> Result<(), String> {
    if let Some(addr) = args.metrics_listen {
        serve_metrics(addr, store.clone()).await?;
    }
    for (flag, value) in
        [("--admin-token", &args.admin_token), ("--ocariot-admin-password", &args.ocariot_admin_password)]
    {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(format!("{flag} is empty: give a secret, or leave the flag out"));
        }
    }
    let jwt = jwt_keys(&store, &args, &secrets).await?;
    if let (Some(path), Some(pem)) = (&args.jwt_public_key_out, jwt.public_key_pem()) {
        std::fs::write(path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let ocariot_admin_hash = match args.ocariot_admin_password.clone() {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || classhub_core::password::hash(&p))
                .await
                .map_err(|e| e.to_string())??,
        ),
        None => None,
    };
    // `--demo` without an admin token makes one for this run, so the admin API it prints works.
    let demo_admin_token = (args.demo && args.admin_token.is_none())
        .then(|| format!("adm_{}", &classhub_core::user::new_token(&mut rand::rng())[4..]));
    let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = AppState::new(
        store.clone(),
        ApiConfig {
            invite_code_length: usize::from(args.invite_code_length),
            admin_token: args.admin_token.clone().or(demo_admin_token.clone()),
            request_timeout: args.request_timeout(),
            max_header_bytes: args.max_header_bytes as usize,
            redeem_failures: args.redeem_failure_limit,
            redeem_window: Duration::from_secs(args.redeem_failure_window),
            signature_failures: args.signature_failure_limit,
            signature_window: Duration::from_secs(args.signature_failure_window),
            signature_skew: Duration::from_secs(args.signature_skew),
            public_base_url: args.public_base_url(addr),
            secrets,
            ocariot_admin_hash,
            jwt,
            login_failures: args.login_failure_limit,
            login_window: Duration::from_secs(args.login_failure_window),
            trusted_proxies: args.trusted_proxies.clone().into(),
            cors_origin: args.cors_origin.clone(),
            account_login_failures: args.account_login_failure_limit,
            account_login_window: Duration::from_secs(args.account_login_failure_window),
            email_code_sends: args.email_code_limit,
            email_code_window: Duration::from_secs(args.email_code_window),
            session_ttl: Duration::from_secs(args.session_ttl),
            refresh_ttl: Duration::from_secs(args.refresh_ttl),
        },
    );
    if args.demo {
        // A self-signed certificate is its own CA: the printed commands name it.
        let trust = args.tls_cert.as_deref().filter(|c| crate::server::self_signed(c));
        let trust = trust.and_then(|c| std::path::absolute(c).ok());
        crate::demo::run(&state, demo_admin_token.as_deref(), trust.as_deref()).await?;
    }
    let (tls, certificate) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let (config, certificate) = crate::server::tls_config(cert, key)?;
            (Some(config), Some(certificate))
        }
        _ => (None, None),
    };
    reload_on_hangup(certificate)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mailer = classhub_mail::Sender {
        store: store.clone(),
        delivery: classhub_mail::Delivery::new(args.smtp_url.as_deref(), &args.mail_dir)?,
        from: args.mail_from.parse().map_err(|e| format!("invalid --mail-from: {e}"))?,
        poll: Duration::from_secs(1),
        retry_after: jiff::SignedDuration::from_secs(5),
    };
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let pruning = tokio::spawn(prune_security_state(store.clone(), mail_stopped.clone()));
    let mail = tokio::spawn(mailer.run(mail_stopped));
    let app = crate::app(state, args.body_limit);
    let shutdown = shutdown_signal()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::server::serve(listener, app, tls, args.connection_limits(), async {
        let _ = stopped.await;
    }));
    tracing::info!(%addr, engine = store.engine_name(), "classhub listening on {scheme}://{addr}");
    tracing::debug!(
        body_limit = args.body_limit,
        max_header_bytes = args.max_header_bytes,
        request_timeout_ms = args.request_timeout().as_millis() as u64,
        redeem_failure_limit = args.redeem_failure_limit,
        signature_failure_limit = args.signature_failure_limit,
        login_failure_limit = args.login_failure_limit,
        account_login_failure_limit = args.account_login_failure_limit,
        email_code_limit = args.email_code_limit,
        session_ttl_secs = args.session_ttl,
        refresh_ttl_secs = args.refresh_ttl,
        "limits in effect"
    );

    tokio::select! {
        result = &mut server => return server_result(result),
        () = shutdown => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop.send(());
    let _ = stop_mail.send(true);
    let _ = mail.await;
    let _ = pruning.await;

    match tokio::time::timeout(Duration::from_secs(args.shutdown_grace), &mut server).await {
        Ok(result) => server_result(result),
        Err(_) => {
            tracing::warn!(
                grace_secs = args.shutdown_grace,
                "requests still in flight after the grace period; closing"
            );
            server.abort();
            Ok(())
        }
    }
}

/// SIGHUP reloads what can change under a running server: the TLS certificate and key
/// (renewed by an ACME client, say). A reload that fails keeps the current ones and says why.
fn reload_on_hangup(certificate: Option<Arc<crate::server::Certificate>>) -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup()).map_err(|e| format!("listening for SIGHUP: {e}"))?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match &certificate {
                    Some(c) => match c.reload() {
                        Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                        Err(e) => tracing::error!("SIGHUP: kept the current TLS certificate: {e}"),
                    },
                    None => tracing::info!("SIGHUP: nothing to reload (no --tls-cert)"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = certificate;
    Ok(())
}

/// The keys of OCARIoT tokens: `--jwt-key-file` (a PEM RSA private key: RS256; any other
/// content of at least 32 bytes: an HS256 secret), else an RSA key made on first start and
/// kept in the database sealed with the server key, shared by every process.
async fn jwt_keys(store: &Store, args: &ServeArgs, secrets: &SecretBox) -> Result<JwtKeys, String> {
    use classhub_store::ops::ocariot::{CLEAR_KEY, SIGNING_KEY};
    use classhub_store::ops::security::{DeleteSetting, SealedSetting};
    let err = |e: classhub_store::StoreError| e.to_string();
    if store.write(DeleteSetting { name: CLEAR_KEY }).await.map_err(err)? {
        tracing::warn!("deleted the OCARIoT signing key older versions kept in clear; tokens it signed are refused");
    }
    if let Some(path) = &args.jwt_key_file {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        return match std::str::from_utf8(&bytes) {
            Ok(text) if text.contains("-----BEGIN") => JwtKeys::rs256_pem(text),
            _ => JwtKeys::hs256(&bytes),
        }
        .map_err(|e| format!("{}: {e}", path.display()));
    }
    let sealed = |fresh| SealedSetting { name: SIGNING_KEY, secrets: secrets.clone(), fresh };
    let der = match store.write(sealed(None)).await.map_err(err)? {
        Some(der) => der,
        None => {
            let fresh = tokio::task::spawn_blocking(JwtKeys::generate_rsa).await.map_err(|e| e.to_string())??;
            let der = store.write(sealed(Some(fresh))).await.map_err(err)?;
            der.ok_or("the OCARIoT signing key was not stored")?
        }
    };
    JwtKeys::rs256(&der)
}

/// Forgets, every minute, the nonces and throttle counters no check needs any more. Every
/// process does it; it is idempotent.
async fn prune_security_state(store: Arc<Store>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = jiff::Timestamp::now();
        match store.write(classhub_store::ops::security::PruneSecurityState { now }).await {
            Ok((nonces, throttles)) if nonces + throttles > 0 => {
                tracing::debug!(nonces, throttles, "pruned security state")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning security state failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.changed() => return,
        }
    }
}

fn server_result(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("server: {e}")),
        Err(e) => Err(format!("server task: {e}")),
    }
}

/// SIGTERM or SIGINT, listened for from the call on: it is made before classhub says it
/// listens, so a supervisor that stops it right after start gets a clean shutdown rather
/// than the signal's default (the process killed).
fn shutdown_signal() -> Result<impl Future<Output = ()>, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("listening for SIGTERM: {e}"))?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("listening for SIGINT: {e}"))?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Installs the Prometheus recorder and serves `/metrics` on its own address.
async fn serve_metrics(addr: std::net::SocketAddr, store: Arc<Store>) -> Result<(), String> {
    const LATENCY: [f64; 14] =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &LATENCY)
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full("classhub_store_group_commit_size".into()),
                &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
            )
        })
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    describe_metrics();
    let process = Arc::new(metrics_process::Collector::default());
    process.describe();
    metrics::gauge!("classhub_build_info", "version" => env!("CARGO_PKG_VERSION"), "engine" => store.engine_name())
        .set(1.0);
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("metrics listener on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new().route("/metrics", get(move || render(handle.clone(), store.clone(), process.clone())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    Ok(())
}

/// `# HELP` for every metric classhub records (the process collector describes its own).
fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!("classhub_http_requests_total", "Requests answered, by method, route template and status.");
    describe_histogram!(
        "classhub_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer, by method and route template."
    );
    describe_histogram!("classhub_store_group_commit_size", "SQLite: write transactions committed together per fsync.");
    describe_gauge!(
        "classhub_store_queued_writes",
        "Writes waiting: SQLite, for the writer thread; PostgreSQL, for a pooled connection."
    );
    describe_gauge!("classhub_store_readers_busy", "Connections in use (SQLite readers; PostgreSQL, the pool's).");
    describe_gauge!("classhub_store_readers_open", "Connections open (SQLite readers; PostgreSQL, the pool's size).");
    describe_gauge!("classhub_mail_outbox_pending", "Emails queued and not delivered yet.");
    describe_gauge!("classhub_mail_outbox_retrying", "Queued emails whose delivery failed at least once.");
    describe_gauge!(
        "classhub_mail_outbox_oldest_age_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest email not delivered yet (0 when none)."
    );
    describe_gauge!(
        "classhub_throttle_keys",
        "Throttle counters kept in the store, shared by every process (identities and addresses with recent failures)."
    );
    describe_gauge!("classhub_throttle_blocked", "Of those, the ones refusing attempts now (answering 429).");
    describe_gauge!("classhub_build_info", "Always 1; the labels name the version and the database engine.");
}

async fn render(handle: PrometheusHandle, store: Arc<Store>, process: Arc<metrics_process::Collector>) -> String {
    let stats = store.stats();
    metrics::gauge!("classhub_store_queued_writes").set(stats.queued_writes as f64);
    metrics::gauge!("classhub_store_readers_busy").set(stats.readers_busy as f64);
    metrics::gauge!("classhub_store_readers_open").set(stats.readers_open as f64);
    // An unreachable database leaves the outbox gauges as they were last read.
    if let Ok(outbox) = store.read(classhub_store::ops::outbox::OutboxBacklog).await {
        let age = outbox.oldest.map_or(0.0, |t| (jiff::Timestamp::now() - t).get_seconds().max(0) as f64);
        metrics::gauge!("classhub_mail_outbox_pending").set(outbox.pending as f64);
        metrics::gauge!("classhub_mail_outbox_retrying").set(outbox.retrying as f64);
        metrics::gauge!("classhub_mail_outbox_oldest_age_seconds").set(age);
    }
    let now = jiff::Timestamp::now();
    if let Ok(throttles) = store.read(classhub_store::ops::security::ThrottleState { now }).await {
        metrics::gauge!("classhub_throttle_keys").set(throttles.tracked as f64);
        metrics::gauge!("classhub_throttle_blocked").set(throttles.blocked as f64);
    }
    process.collect();
    handle.render()
}
