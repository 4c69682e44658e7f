use super::certs::{Certs, Seen, read};
use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// A CA and the leaves it issues for `localhost`, written where a test says.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { ca, dir: tempfile::tempdir().unwrap() }
    }

    /// A new leaf named `cn`, valid until `not_after`: (certificate PEM, its DER, key PEM).
    fn leaf(&self, cn: &str, not_after: (i32, u8, u8)) -> (String, CertificateDer<'static>, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.pem(), cert.der().clone(), key.serialize_pem())
    }

    fn files(&self) -> TlsFiles {
        TlsFiles { cert: self.dir.path().join("tls.crt"), key: self.dir.path().join("tls.key") }
    }

    /// Writes a new leaf to [`Pki::files`]: its DER.
    fn install(&self, cn: &str) -> CertificateDer<'static> {
        let (cert, der, key) = self.leaf(cn, (2040, 1, 1));
        let files = self.files();
        write(&files.cert, &cert);
        write(&files.key, &key);
        der
    }

    fn client(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn fingerprint(der: &CertificateDer<'_>) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

fn start(pki: &Pki, handshake_timeout: Duration) -> (Arc<ServerTls>, watch::Sender<bool>) {
    let (stop, stopped) = watch::channel(false);
    let options = TlsOptions { handshake_timeout, reload_interval: Duration::from_secs(3600), ..TlsOptions::default() };
    let (tls, _watcher) = ServerTls::start(Port::Api, pki.files(), &options, stopped).unwrap();
    (tls, stop)
}

/// A handshake over an in-memory pipe: what the client saw (ALPN, the server's certificate).
async fn handshake(tls: &Arc<ServerTls>, client: TlsConnector) -> (Option<Vec<u8>>, CertificateDer<'static>) {
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    let server = {
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut stream = tls.accept(server_io).await.expect("handshake");
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            stream.write_all(&byte).await.unwrap();
            stream.flush().await.unwrap();
        })
    };
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = client.connect(name, client_io).await.unwrap();
    stream.write_all(b"x").await.unwrap();
    let mut echo = [0u8; 1];
    stream.read_exact(&mut echo).await.unwrap();
    server.await.unwrap();
    let (_, connection) = stream.get_ref();
    let alpn = connection.alpn_protocol().map(<[u8]>::to_vec);
    (alpn, connection.peer_certificates().unwrap()[0].clone().into_owned())
}

#[tokio::test]
async fn alpn_offers_h2_and_http1_and_each_client_gets_what_it_asked_for() {
    let pki = Pki::new();
    let served = pki.install("first");
    let (tls, _stop) = start(&pki, DEFAULT_HANDSHAKE_TIMEOUT);
    let (alpn, cert) = handshake(&tls, pki.client(&[b"h2", b"http/1.1"])).await;
    assert_eq!((alpn.as_deref(), &cert), (Some(&b"h2"[..]), &served));
    let (alpn, _) = handshake(&tls, pki.client(&[b"http/1.1"])).await;
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    // No ALPN at all (some HTTP/1.1 clients): served, and HTTP/1.1 is what they speak.
    let (alpn, _) = handshake(&tls, pki.client(&[])).await;
    assert_eq!(alpn, None);
    assert_eq!((tls.handshake_errors(), tls.handshake_timeouts()), (0, 0));
}

#[tokio::test]
async fn a_client_without_a_protocol_in_common_or_not_speaking_tls_fails_and_is_counted() {
    let pki = Pki::new();
    pki.install("first");
    let (tls, _stop) = start(&pki, DEFAULT_HANDSHAKE_TIMEOUT);
    let (client_io, server_io) = tokio::io::duplex(64 << 10);
    let name = ServerName::try_from("localhost").unwrap();
    let client = pki.client(&[b"h3"]);
    let (server, client) = tokio::join!(tls.accept(server_io), client.connect(name, client_io));
    assert!(server.is_none() && client.is_err());
    let (mut plain, server_io) = tokio::io::duplex(64 << 10);
    plain.write_all(b"GET /v1/models HTTP/1.1\r\nhost: switchyard\r\n\r\n").await.unwrap();
    assert!(tls.accept(server_io).await.is_none());
    assert_eq!((tls.handshake_errors(), tls.handshake_timeouts()), (2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_completes_is_dropped_at_the_timeout() {
    let pki = Pki::new();
    pki.install("first");
    let timeout = Duration::from_secs(7);
    let (tls, _stop) = start(&pki, timeout);
    let (mut client, server_io) = tokio::io::duplex(64 << 10);
    // The start of a ClientHello, then nothing.
    client.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).await.unwrap();
    let began = tokio::time::Instant::now();
    assert!(tls.accept(server_io).await.is_none());
    assert_eq!(began.elapsed(), timeout);
    assert_eq!((tls.handshake_timeouts(), tls.handshake_errors()), (1, 0));
    // The server dropped its end: the client reads the end of the stream.
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
}

#[tokio::test]
async fn a_changed_pair_serves_new_handshakes_and_a_broken_one_keeps_the_last_good() {
    let pki = Pki::new();
    let first = pki.install("first");
    let (tls, _stop) = start(&pki, DEFAULT_HANDSHAKE_TIMEOUT);
    let certs = tls.certs();
    assert_eq!(certs.serving().fingerprint, fingerprint(&first));
    let files = pki.files();
    let mut seen = Seen::Unreadable(String::new());

    let second = pki.install("second");
    certs.poll(&mut seen, read(Port::Api, &files));
    assert_eq!((certs.serving().fingerprint.clone(), certs.reloads()), (fingerprint(&second), 1));
    assert_eq!(handshake(&tls, pki.client(&[b"h2"])).await.1, second);
    // Unchanged files: nothing to do.
    certs.poll(&mut seen, read(Port::Api, &files));
    assert_eq!(certs.reloads(), 1);

    // A key of another certificate: refused, once, with the reason; the second pair serves on.
    let (_, _, other_key) = pki.leaf("other", (2040, 1, 1));
    write(&files.key, &other_key);
    for _ in 0..2 {
        certs.poll(&mut seen, read(Port::Api, &files));
    }
    let error = certs.last_error().unwrap();
    assert_eq!(
        *error,
        format!(
            "--tls-cert {} with --tls-key {}: the private key does not belong to the certificate",
            files.cert.display(),
            files.key.display()
        )
    );
    assert_eq!((certs.reload_errors(), certs.reloads()), (1, 1));
    assert_eq!(handshake(&tls, pki.client(&[b"h2"])).await.1, second);
    // Not PEM, then gone: each refused with what is wrong, never the file's content.
    write(&files.cert, "secret-looking junk\n");
    certs.poll(&mut seen, read(Port::Api, &files));
    let error = certs.last_error().unwrap();
    assert!(error.contains("no certificate in it") && !error.contains("junk"), "{error}");
    std::fs::remove_file(&files.cert).unwrap();
    certs.poll(&mut seen, read(Port::Api, &files));
    assert!(certs.last_error().unwrap().contains("cannot read"));
    assert_eq!(certs.reload_errors(), 3);
    assert_eq!(certs.serving().fingerprint, fingerprint(&second));

    // A good pair again: swapped in, the error cleared.
    let third = pki.install("third");
    certs.poll(&mut seen, read(Port::Api, &files));
    assert_eq!((certs.serving().fingerprint.clone(), certs.last_error()), (fingerprint(&third), None));
    assert_eq!(handshake(&tls, pki.client(&[b"h2"])).await.1, third);
}

#[test]
fn a_bad_pair_at_start_names_the_flags_and_files() {
    let pki = Pki::new();
    pki.install("first");
    let files = pki.files();
    let (_, _, other_key) = pki.leaf("other", (2040, 1, 1));
    write(&files.key, &other_key);
    let e = Certs::load(Port::Admin, files.clone(), provider()).unwrap_err().to_string();
    assert!(e.starts_with("--admin-tls-cert ") && e.contains(" with --admin-tls-key "), "{e}");
    assert!(e.ends_with("the private key does not belong to the certificate"), "{e}");
    write(&files.key, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let e = Certs::load(Port::Api, files.clone(), provider()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("--tls-key {}: no private key in it", files.key.display())), "{e}");
}

#[test]
fn the_serving_certificate_tells_its_expiry_and_fingerprint() {
    let pki = Pki::new();
    let (cert, der, key) = pki.leaf("dated", (2031, 7, 15));
    let files = pki.files();
    write(&files.cert, &cert);
    write(&files.key, &key);
    let (certs, _) = Certs::load(Port::Api, files, provider()).unwrap();
    let serving = certs.serving();
    assert_eq!(serving.not_after.map(|t| t.to_string()).as_deref(), Some("2031-07-15T00:00:00Z"));
    assert_eq!(serving.fingerprint, fingerprint(&der));
}
