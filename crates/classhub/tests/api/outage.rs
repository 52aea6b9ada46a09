//! Losing the database: requests get 503 in the dialect's envelope (never a hang, never a
//! 500), and service comes back by itself when the database does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::TestApp;

/// A TCP proxy in front of PostgreSQL that the test can cut (closing every connection
/// and refusing new ones) and restore on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    accept: Mutex<Option<JoinHandle<()>>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy { port, upstream: upstream.into(), accept: Mutex::new(None), links: Arc::default() };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, links) = (self.upstream.clone(), self.links.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links.lock().unwrap().push(link);
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    fn cut(&self) {
        if let Some(t) = self.accept.lock().unwrap().take() {
            t.abort();
        }
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
async fn database_outage_gives_503_and_service_recovers() {
    let schema = classhub_testkit::PgSchema::create().await;
    let url = url::Url::parse(&schema.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(&upstream).await;
    let mut through = url.clone();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::postgres_at(schema, through.as_str()).await;
    let p = app.partner().await;
    let c = app.class(&p, json!({"name": "x"})).await;
    let class_url = format!("/partner/{}/classes/{}", p.id, c["id"]);

    proxy.cut();
    let unavailable = json!({"detail": "Service temporarily unavailable"});
    for _ in 0..3 {
        let r =
            tokio::time::timeout(Duration::from_secs(20), app.get(&class_url).token(&p.token).send()).await.unwrap();
        r.expect(503, unavailable.clone());
        assert_eq!(r.header("retry-after"), Some("1"));
        let r = app.patch(&class_url).token(&p.token).json(json!({"name": "lost?"})).send().await;
        r.expect(503, unavailable.clone());
    }
    app.get("/readyz").send().await.expect(503, json!({"status": "unavailable"}));
    app.get("/healthz").send().await.expect(200, json!({"status": "ok"}));

    proxy.restore().await;
    app.get("/readyz").send().await.expect(200, json!({"status": "ready"}));
    let r = app.patch(&class_url).token(&p.token).json(json!({"name": "back"})).send().await;
    assert_eq!((r.status, &r.body["name"]), (200, &json!("back")));
    // The refused writes left no trace.
    assert_eq!(
        app.actions(&p, c["id"].as_i64().unwrap()).await,
        ["class.create", "invite_code.create", "class.update"]
    );
}
