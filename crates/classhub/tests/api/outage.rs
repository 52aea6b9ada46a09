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

/// A database that is there but refuses connections, and then one that is dropped: every
/// dialect answers 503 with `Retry-After` in its own envelope (SQLSTATEs 55000 and 3D000,
/// which classhub once answered 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(classhub_pg), ignore = "set CLASSHUB_TEST_POSTGRES_URL to run on PostgreSQL")]
async fn a_database_that_refuses_connections_or_is_dropped_gives_503_in_every_dialect() {
    let db = classhub_testkit::PgDatabase::create().await;
    let app = TestApp::postgres_database(&db).await;
    let p = app.partner().await;
    let cs = app.cs_project("outage").await;
    let oc =
        app.post("/v1/auth").json(json!({"username": "admin", "password": crate::support::OCARIOT_ADMIN})).send().await;
    let oc_token = oc.body["access_token"].as_str().unwrap().to_string();
    let edu = "5a62be07de34500146d9c544";

    let every_dialect = || async {
        let partner = app.get(&format!("/partner/{}/classes", p.id)).token(&p.token).send().await;
        partner.expect(503, json!({"detail": "Service temporarily unavailable"}));
        let admin = app
            .post("/admin/v1/models")
            .token(crate::support::ADMIN)
            .json(json!({"name": "m", "provider": "p"}))
            .send()
            .await;
        admin.expect(503, json!({"detail": "Service temporarily unavailable"}));
        let cloudshare = app.get("/api/v3/class").signed(&cs.instructor).send().await;
        cloudshare.expect(503, json!({"message": "service temporarily unavailable", "code": "0x503"}));
        let ocariot = app.get(&format!("/v1/educators/{edu}/children/groups")).token(&oc_token).send().await;
        ocariot.expect(
            503,
            json!({"code": 503, "message": "Service temporarily unavailable.",
                   "description": "The database cannot be reached; please try again shortly."}),
        );
        for r in [&partner, &admin, &cloudshare, &ocariot] {
            assert_eq!(r.header("retry-after"), Some("1"), "{}", r.text);
        }
        app.get("/readyz").send().await.expect(503, json!({"status": "unavailable"}));
    };
    db.refuse_connections().await;
    every_dialect().await;
    db.drop_now().await;
    every_dialect().await;
}
