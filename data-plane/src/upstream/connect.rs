//! Opening one upstream HTTP/2 connection for [`super::h2pool`]: TCP, then TLS
//! with ALPN `h2` only for `https://` (verified as reqwest's `rustls` feature
//! does: the process-wide rustls crypto provider or aws-lc-rs, and the
//! platform verifier) or prior knowledge (h2c) for `http://`, then the HTTP/2
//! handshake. Errors name what failed, never the URL.

use super::body::OutgoingBody;
use crate::body::BoxError;
use hyper::client::conn::http2::{self, Connection, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, crypto::CryptoProvider};

/// HTTP/2 keepalive: a PING this often, the connection is dead without an answer in time.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams assumed allowed on a pool's first connection until the server's
/// first SETTINGS say otherwise (later connections assume what the earlier ones learnt).
pub(super) const DEFAULT_STREAM_LIMIT: usize = 100;
/// Largest response header block accepted.
const MAX_HEADER_LIST: u32 = 64 * 1024;
/// Flow-control windows, fixed. Not hyper's adaptive window: it starts the
/// connection window at 64 KiB and h2 (0.4.20) sizes its budget for buffered
/// small DATA frames from that window (half of it), so a burst of SSE events
/// on 100 streams (two events each is enough) closes the whole connection with
/// ENHANCE_YOUR_CALM. A 16 MiB connection window gives an 8 MiB budget, and
/// room for 16 streams whose clients stopped reading before the others wait.
const STREAM_WINDOW: u32 = 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// Where one pool connects: one origin.
pub(super) struct Target {
    host: Host,
    port: u16,
    /// `None` for `http://` (h2c).
    tls: Option<(TlsConnector, ServerName<'static>)>,
    builder: http2::Builder<TokioExecutor>,
}

enum Host {
    Name(String),
    Ip(IpAddr),
}

/// A connection's driver: the future that runs it, whichever transport it uses.
pub(super) enum Driver {
    Plain(Connection<TokioIo<TcpStream>, OutgoingBody, TokioExecutor>),
    Tls(Connection<TokioIo<TlsStream<TcpStream>>, OutgoingBody, TokioExecutor>),
}

impl Driver {
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<hyper::Result<()>> {
        match self {
            Driver::Plain(c) => std::pin::Pin::new(c).poll(cx),
            Driver::Tls(c) => std::pin::Pin::new(c).poll(cx),
        }
    }

    /// The server's current SETTINGS_MAX_CONCURRENT_STREAMS (the initial
    /// assumption until its first SETTINGS arrive).
    pub(super) fn max_send_streams(&self) -> usize {
        match self {
            Driver::Plain(c) => c.current_max_send_streams(),
            Driver::Tls(c) => c.current_max_send_streams(),
        }
    }
}

impl Target {
    /// The target of `base_url` (an `http` or `https` URL with a host, as validated).
    pub(super) fn new(base_url: &str) -> Result<Target, String> {
        let url = url::Url::parse(base_url).map_err(|_| "invalid base URL".to_owned())?;
        let port = url.port_or_known_default().ok_or("the base URL has no port")?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => Host::Name(d.to_owned()),
            Some(url::Host::Ipv4(ip)) => Host::Ip(ip.into()),
            Some(url::Host::Ipv6(ip)) => Host::Ip(ip.into()),
            None => return Err("the base URL has no host".into()),
        };
        let tls = match url.scheme() {
            "http" => None,
            "https" => {
                let name = match &host {
                    Host::Name(d) => ServerName::try_from(d.clone()).map_err(|_| "invalid TLS server name")?,
                    Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
                };
                Some((TlsConnector::from(tls_config()?), name))
            }
            _ => return Err("http2 needs an http:// or https:// base URL".into()),
        };
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_header_list_size(MAX_HEADER_LIST)
            .keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        Ok(Target { host, port, tls, builder })
    }

    /// A new HTTP/2 connection that assumes the server allows `streams`
    /// streams until its SETTINGS arrive (no timeout here: the pool bounds the whole of it).
    pub(super) async fn connect(&self, streams: usize) -> Result<(SendRequest<OutgoingBody>, Driver), BoxError> {
        let tcp = match &self.host {
            Host::Ip(ip) => TcpStream::connect(SocketAddr::new(*ip, self.port)).await?,
            Host::Name(name) => TcpStream::connect((name.as_str(), self.port)).await?,
        };
        tcp.set_nodelay(true)?;
        let mut builder = self.builder.clone();
        builder.initial_max_send_streams(streams);
        match &self.tls {
            None => {
                let (send, conn) = builder.handshake(TokioIo::new(tcp)).await?;
                Ok((send, Driver::Plain(conn)))
            }
            Some((connector, name)) => {
                let tls = connector.connect(name.clone(), tcp).await?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err("the server did not select HTTP/2 in TLS ALPN (set http2: false for it)".into());
                }
                let (send, conn) = builder.handshake(TokioIo::new(tls)).await?;
                Ok((send, Driver::Tls(conn)))
            }
        }
    }
}

/// TLS client settings as reqwest's `rustls` feature builds them, offering only `h2`.
fn tls_config() -> Result<Arc<ClientConfig>, String> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("cannot load the platform's TLS verifier: {e}"))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
