#![allow(clippy::unwrap_used, clippy::expect_used)]
//! TLS on the data plane's client port (`--tls-cert`, `--tls-key`) and admin
//! port: a client trusting the test CA gets a chat completion over HTTPS, on
//! HTTP/2 when ALPN offers it and on HTTP/1.1 when only that is offered; a
//! renewed certificate (swapped in as a Kubernetes Secret mount swaps it, by
//! a symlink) serves new connections without a restart while open ones keep
//! theirs; a broken replacement keeps the old one serving; a handshake that
//! never completes is dropped at the handshake timeout, and one that
//! completes but sends no request at the first-byte timeout; the connection
//! bound counts TLS connections. Certificates are made at test time (rcgen).

use http::Version;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proxy::tls::TlsFiles;
use switchyard_proxy::{DataPlane, Options};
use switchyard_tests::harness::*;
use switchyard_tests::{FakeUpstream, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A CA and the server certificates it issues for 127.0.0.1, mounted as a
/// Kubernetes Secret is: `tls.crt` and `tls.key` are symlinks through `..data`,
/// a symlink to the current version's folder, swapped in one rename.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
    versions: usize,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "switchyard test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for name in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.path().join(name)).unwrap();
        }
        Self { ca, dir, versions: 0 }
    }

    /// What the proxy is given: the symlinks.
    fn files(&self) -> TlsFiles {
        TlsFiles { cert: self.dir.path().join("tls.crt"), key: self.dir.path().join("tls.key") }
    }

    /// A new certificate (common name `cn`, a serial of its own) for 127.0.0.1 and its key (PEM).
    fn issue(&self, cn: &str) -> (CertificateDer<'static>, String, String) {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.der().clone(), cert.pem(), key.serialize_pem())
    }

    /// A new version of the Secret holding `cert` and `key`, swapped in at once.
    fn mount(&mut self, cert: &str, key: &str) {
        self.versions += 1;
        let version = format!("..v{}", self.versions);
        let folder = self.dir.path().join(&version);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("tls.crt"), cert).unwrap();
        std::fs::write(folder.join("tls.key"), key).unwrap();
        let next = self.dir.path().join("..data_tmp");
        std::os::unix::fs::symlink(&version, &next).unwrap();
        std::fs::rename(&next, self.dir.path().join("..data")).unwrap();
    }

    /// Issues and mounts a certificate named `cn`: its DER.
    fn rotate(&mut self, cn: &str) -> CertificateDer<'static> {
        let (der, cert, key) = self.issue(cn);
        self.mount(&cert, &key);
        der
    }

    /// An HTTPS client trusting only the test CA, not pooling across tests; HTTP/2 by ALPN unless `http1_only`.
    fn client(&self, http1_only: bool) -> reqwest::Client {
        let ca = reqwest::Certificate::from_der(self.ca.der()).unwrap();
        let builder = reqwest::Client::builder().no_proxy().tls_certs_only([ca]).tls_info(true);
        let builder = if http1_only { builder.http1_only() } else { builder };
        builder.build().unwrap()
    }

    /// A raw TLS client offering h2 and http/1.1.
    fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

/// A proxy serving `--listen` over TLS with `pki`'s files, re-read every 50 ms.
async fn proxy(upstream: &FakeUpstream, pki: &Pki, tweak: impl FnOnce(&mut Options)) -> Proxy {
    let files = pki.files();
    Proxy::start_with(&gateway_yaml(&upstream.base_url(), &upstream.base_url()), move |o| {
        o.tls.api = Some(files);
        o.tls.reload_interval = Duration::from_millis(50);
        tweak(o);
    })
    .await
}

fn https(proxy: &Proxy, path: &str) -> String {
    format!("https://{}{path}", proxy.handle().addr)
}

/// A chat completion over `client`: the response's HTTP version and the server certificate it came with.
async fn chat(proxy: &Proxy, client: &reqwest::Client) -> (Version, Vec<u8>) {
    let response = client
        .post(https(proxy, "/v1/chat/completions"))
        .bearer_auth(APP_KEY)
        .json(&chat_body("gpt-4o-mini", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let version = response.version();
    let cert = peer_certificate(&response);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion", "{body}");
    (version, cert)
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info");
    info.peer_certificate().expect("a server certificate").to_vec()
}

/// The certificate a new connection gets (`/readyz`, no key needed).
async fn served_to_a_new_connection(proxy: &Proxy, pki: &Pki) -> Vec<u8> {
    let response = pki.client(false).get(https(proxy, "/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    peer_certificate(&response)
}

async fn metrics(proxy: &Proxy) -> String {
    client().get(format!("{}/metrics", proxy.admin_url())).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn https_chat_completions_on_http2_by_alpn_and_on_http1_when_only_that_is_offered() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    let served = pki.rotate("first");
    let proxy = proxy(&upstream, &pki, |_| {}).await;

    let (version, cert) = chat(&proxy, &pki.client(false)).await;
    assert_eq!((version, cert.as_slice()), (Version::HTTP_2, served.as_ref()));
    let (version, _) = chat(&proxy, &pki.client(true)).await;
    assert_eq!(version, Version::HTTP_11);
    // The upstream got both, with its own model name and key.
    let requests = upstream.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].json()["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(requests[1].header("authorization"), Some(format!("Bearer {UPSTREAM_KEY_A}").as_str()));
    let models = pki.client(false).get(https(&proxy, "/v1/models")).bearer_auth(APP_KEY).send().await.unwrap();
    assert_eq!((models.version(), models.status().as_u16()), (Version::HTTP_2, 200));

    // Plain HTTP on the TLS port is a failed handshake, not a request.
    assert!(client().get(format!("http://{}/readyz", proxy.handle().addr)).send().await.is_err());
    let status = proxy.status().await;
    let api = &status["tls"]["api"];
    assert_eq!(api["fingerprint_sha256"], sha256_hex(&served), "{status}");
    assert!(api["not_after"].as_str().is_some() && api["last_reload_error"].is_null(), "{status}");
    let metrics = metrics(&proxy).await;
    assert!(
        metrics.contains("switchyard_tls_handshake_failures_total{listener=\"api\",reason=\"error\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_tls_certificate_expiry_timestamp_seconds{listener=\"api\"} "), "{metrics}");
}

fn sha256_hex(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_renewed_certificate_serves_new_connections_and_open_ones_keep_theirs() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    let first = pki.rotate("first");
    let proxy = proxy(&upstream, &pki, |_| {}).await;
    // An HTTP/2 connection, kept open across the renewal.
    let open = pki.client(false);
    assert_eq!(chat(&proxy, &open).await.1, first.as_ref());

    let second = pki.rotate("second");
    let what = "a new connection gets the renewed certificate";
    eventually(what, async || served_to_a_new_connection(&proxy, &pki).await == second.as_ref()).await;
    let (version, cert) = chat(&proxy, &open).await;
    assert_eq!((version, cert.as_slice()), (Version::HTTP_2, first.as_ref()), "the open connection kept its own");
    let status = proxy.status().await;
    assert_eq!(status["tls"]["api"]["reloads"], 1, "{status}");
    assert_eq!(status["tls"]["api"]["fingerprint_sha256"], sha256_hex(&second), "{status}");
    assert!(metrics(&proxy).await.contains("switchyard_tls_reloads_total{listener=\"api\",result=\"ok\"} 1\n"));
}

#[tokio::test]
async fn a_broken_replacement_is_refused_with_the_reason_and_the_old_certificate_serves_on() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    let first = pki.rotate("first");
    let proxy = proxy(&upstream, &pki, |_| {}).await;

    // A new certificate with the key of another.
    let (_, cert, _) = pki.issue("second");
    let (_, _, key) = pki.issue("third");
    pki.mount(&cert, &key);
    let last_error = async || proxy.status().await["tls"]["api"]["last_reload_error"].as_str().map(str::to_owned);
    let error = switchyard_tests::eventually_some("the broken pair is refused", last_error).await;
    assert!(error.ends_with("the private key does not belong to the certificate"), "{error}");
    assert_eq!(served_to_a_new_connection(&proxy, &pki).await, first.as_ref());
    assert_eq!(chat(&proxy, &pki.client(true)).await.1, first.as_ref());

    // Not PEM at all.
    pki.mount("not a certificate\n", &key);
    let what = "the unreadable pair is refused";
    eventually(what, async || last_error().await.is_some_and(|e| e.contains("no certificate in it"))).await;
    assert_eq!(served_to_a_new_connection(&proxy, &pki).await, first.as_ref());
    let metrics = metrics(&proxy).await;
    assert!(metrics.contains("switchyard_tls_reloads_total{listener=\"api\",result=\"error\"} 2\n"), "{metrics}");
    assert!(metrics.contains("switchyard_tls_reloads_total{listener=\"api\",result=\"ok\"} 0\n"), "{metrics}");

    // Fixed: served, and the error is gone.
    let fixed = pki.rotate("fixed");
    eventually("the fixed pair serves", async || served_to_a_new_connection(&proxy, &pki).await == fixed.as_ref())
        .await;
    assert_eq!(last_error().await, None);
}

/// Everything the server sends until it closes the connection (over TLS, with
/// or without a close_notify); panics if it keeps it for a minute.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> Vec<u8> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut out)).await;
    match read {
        Ok(Ok(_)) => out,
        Ok(Err(e)) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof) => out,
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("the server kept the connection open (sent {out:?})"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_completes_the_handshake_is_dropped_at_the_handshake_timeout() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    pki.rotate("first");
    let (first_bytes, handshake) = (Duration::from_secs(2), Duration::from_secs(5));
    let proxy = proxy(&upstream, &pki, |o| {
        o.tls.handshake_timeout = handshake;
        o.tls.reload_interval = Duration::from_secs(3600);
        o.connections.first_byte_timeout = first_bytes;
    })
    .await;
    // Silent: closed at the first-byte timeout, as on a plain port.
    let mut silent = TcpStream::connect(proxy.handle().addr).await.unwrap();
    let began = tokio::time::Instant::now();
    assert_eq!(read_until_closed(&mut silent).await, b"");
    let waited = began.elapsed();
    assert!(waited >= first_bytes && waited < handshake, "closed after {waited:?}");

    // More than the first-bytes sniff needs (24 bytes), less than a ClientHello: the handshake waits.
    let mut stalled = TcpStream::connect(proxy.handle().addr).await.unwrap();
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    hello.extend_from_slice(&[7; 32]);
    stalled.write_all(&hello).await.unwrap();
    let began = tokio::time::Instant::now();
    assert_eq!(read_until_closed(&mut stalled).await, b"");
    let waited = began.elapsed();
    assert!(waited >= handshake && waited < Duration::from_secs(30), "closed after {waited:?}");

    let metrics = metrics(&proxy).await;
    assert!(
        metrics.contains("switchyard_tls_handshake_failures_total{listener=\"api\",reason=\"timeout\"} 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_tls_handshake_failures_total{listener=\"api\",reason=\"error\"} 0\n"));
    assert!(metrics.contains("switchyard_connections_timed_out_total{listener=\"api\"} 1\n"), "{metrics}");
}

#[tokio::test]
async fn a_client_that_completes_the_handshake_but_sends_no_request_is_closed_at_the_first_byte_timeout() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    pki.rotate("first");
    let proxy = proxy(&upstream, &pki, |o| o.connections.first_byte_timeout = Duration::from_millis(300)).await;
    let tcp = TcpStream::connect(proxy.handle().addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = pki.connector().connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(read_until_closed(&mut tls).await, b"");
    let metrics = metrics(&proxy).await;
    assert!(metrics.contains("switchyard_connections_timed_out_total{listener=\"api\"} 1\n"), "{metrics}");
    assert!(metrics.contains("switchyard_tls_handshake_failures_total{listener=\"api\",reason=\"timeout\"} 0\n"));
}

#[tokio::test]
async fn the_connection_bound_counts_tls_connections() {
    const MAX: usize = 2;
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    pki.rotate("first");
    let proxy = proxy(&upstream, &pki, |o| o.connections.max = MAX).await;
    // Each client keeps its HTTP/2 connection open after its request.
    let mut held = Vec::new();
    for _ in 0..MAX {
        let client = pki.client(false);
        assert_eq!(chat(&proxy, &client).await.0, Version::HTTP_2);
        held.push(client);
    }
    let refused = pki.client(false).get(https(&proxy, "/readyz")).send().await;
    assert!(refused.is_err(), "a third connection was served: {refused:?}");
    let metrics = metrics(&proxy).await;
    assert!(metrics.contains("switchyard_connections_refused_total{listener=\"api\"} 1\n"), "{metrics}");
    assert!(metrics.contains("switchyard_connections_open{listener=\"api\"} 2\n"), "{metrics}");
    // The open ones are served; a closed one gives its slot back.
    assert_eq!(chat(&proxy, &held[0]).await.0, Version::HTTP_2);
    held.pop();
    let what = "a new TLS connection is served once a slot is free";
    eventually(what, async || pki.client(false).get(https(&proxy, "/readyz")).send().await.is_ok()).await;
}

#[tokio::test]
async fn the_admin_port_serves_tls_with_its_own_files() {
    let upstream = FakeUpstream::start().await;
    let mut api = Pki::new();
    api.rotate("api");
    let mut admin = Pki::new();
    let admin_cert = admin.rotate("admin");
    let admin_files = admin.files();
    let proxy = proxy(&upstream, &api, move |o| o.tls.admin = Some(admin_files)).await;
    let url = format!("https://{}/status", proxy.handle().admin_addr.unwrap());
    let response = admin.client(false).get(&url).send().await.unwrap();
    assert_eq!((response.version(), response.status().as_u16()), (Version::HTTP_2, 200));
    assert_eq!(peer_certificate(&response), admin_cert.as_ref());
    let status: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status["tls"]["admin"]["fingerprint_sha256"], sha256_hex(&admin_cert), "{status}");
    assert!(status["tls"]["api"]["fingerprint_sha256"].is_string(), "{status}");
    // The API's CA does not vouch for the admin port's certificate.
    assert!(api.client(false).get(&url).send().await.is_err());
}

#[tokio::test]
async fn bad_tls_files_stop_the_start_naming_the_flag_and_the_file() {
    let upstream = FakeUpstream::start().await;
    let mut pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, gateway_yaml(&upstream.base_url(), &upstream.base_url())).unwrap();
    let start = async |tls: TlsFiles| {
        let mut options = Options::new("127.0.0.1:0".parse().unwrap(), config.clone());
        options.tls.api = Some(tls);
        match DataPlane::start(options).await {
            Ok(_) => panic!("started"),
            Err(e) => e.to_string(),
        }
    };
    // Before the first version is mounted the symlinks lead nowhere.
    let e = start(pki.files()).await;
    assert!(e.starts_with(&format!("--tls-cert {}: cannot read", pki.files().cert.display())), "{e}");
    let (_, cert, _) = pki.issue("first");
    let (_, _, other_key) = pki.issue("other");
    pki.mount(&cert, &other_key);
    let e = start(pki.files()).await;
    assert!(e.ends_with("the private key does not belong to the certificate"), "{e}");
    let key_is_a_cert = TlsFiles { key: pki.files().cert, ..pki.files() };
    let e = start(key_is_a_cert).await;
    assert!(e.contains("--tls-key") && e.contains("no private key in it"), "{e}");
}
