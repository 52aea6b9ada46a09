//! `classhub serve`: the API listener, the metrics listener, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use classhub_core::secret::SecretBox;
use classhub_store::Store;
use classhub_web::{ApiConfig, AppState};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::ServeArgs;

pub async fn run(store: Arc<Store>, args: ServeArgs, secrets: SecretBox) -> Result<(), String> {
    if let Some(addr) = args.metrics_listen {
        serve_metrics(addr, store.clone()).await?;
    }
    let jwt_key = match &args.jwt_key_file {
        Some(path) => std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?,
        None => store.write(classhub_store::ops::ocariot::JwtKey).await.map_err(|e| e.to_string())?,
    };
    if jwt_key.len() < 32 {
        return Err("the JWT key must be at least 32 bytes".into());
    }
    let listener = TcpListener::bind(args.listen).await.map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = AppState::new(
        store.clone(),
        ApiConfig {
            invite_code_length: usize::from(args.invite_code_length),
            admin_token: args.admin_token.clone(),
            request_timeout: args.request_timeout(),
            redeem_failures: args.redeem_failure_limit,
            redeem_window: Duration::from_secs(args.redeem_failure_window),
            signature_failures: args.signature_failure_limit,
            signature_window: Duration::from_secs(args.signature_failure_window),
            signature_skew: Duration::from_secs(args.signature_skew),
            public_base_url: args.public_base_url(addr),
            secrets,
            ocariot_admin_password: args.ocariot_admin_password.clone(),
            jwt_key,
            login_failures: args.login_failure_limit,
            login_window: Duration::from_secs(args.login_failure_window),
        },
    );
    if args.demo {
        crate::demo::run(&state).await?;
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::server::tls_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mailer = classhub_mail::Sender {
        store: store.clone(),
        delivery: classhub_mail::Delivery::new(args.smtp_url.as_deref(), &args.mail_dir)?,
        from: args.mail_from.parse().map_err(|e| format!("invalid --mail-from: {e}"))?,
        poll: Duration::from_secs(1),
        retry_after: jiff::SignedDuration::from_secs(5),
    };
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail = tokio::spawn(mailer.run(mail_stopped));
    let app = crate::app(state, args.body_limit);
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
        "limits in effect"
    );

    tokio::select! {
        result = &mut server => return server_result(result),
        () = shutdown_signal() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop.send(());
    let _ = stop_mail.send(true);
    let _ = mail.await;

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

fn server_result(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("server: {e}")),
        Err(e) => Err(format!("server task: {e}")),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
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
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("metrics listener on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new().route("/metrics", get(move || render(handle.clone(), store.clone())));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    Ok(())
}

async fn render(handle: PrometheusHandle, store: Arc<Store>) -> String {
    let stats = store.stats();
    metrics::gauge!("classhub_store_queued_writes").set(stats.queued_writes as f64);
    metrics::gauge!("classhub_store_readers_busy").set(stats.readers_busy as f64);
    metrics::gauge!("classhub_store_readers_open").set(stats.readers_open as f64);
    handle.render()
}
