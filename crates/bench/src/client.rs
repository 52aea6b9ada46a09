//! A keep-alive HTTP/1.1 connection for seeding and for the redeem storm (hyper's client
//! connection; the load itself comes from wrk and oha).

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    /// The target of a `Link: <…>; rel="next"` header.
    pub next: Option<String>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Conn { addr, sender })
    }

    /// Sends one request; `auth` is the whole `Authorization` value.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, String> {
        let mut request = hyper::Request::builder().method(method).uri(path).header("host", self.addr.to_string());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let bytes = match body {
            Some(b) => {
                request = request.header("content-type", "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(bytes)).map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let next = response.headers().get("link").and_then(|l| {
            l.to_str().ok()?.strip_prefix('<')?.split_once(">; rel=\"next\"").map(|(t, _)| t.to_string())
        });
        let raw = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        let body =
            if raw.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&raw).unwrap_or_default() };
        Ok(Answer { status, body, next })
    }

    /// Like [`Conn::send`], but anything other than `expected` is an error naming the request.
    pub async fn expect(
        &mut self,
        expected: u16,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, String> {
        let answer = self.send(method, path, auth, body).await?;
        if answer.status != expected {
            return Err(format!("{method} {path}: expected {expected}, got {} {}", answer.status, answer.body));
        }
        Ok(answer.body)
    }
}
