//! The gRPC connection to the control plane's `Admin` service: TLS for
//! `https://` endpoints (with a client certificate when one is given), the
//! admin token on every call, and every failure turned into one [`Error`].

use crate::config::{ClientCert, Target};
use crate::error::{Error, transport_reason};
use std::time::Duration;
use switchyard_proto::pb::admin_client::AdminClient;
use switchyard_proto::pem;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Every call; a provider test waits on upstreams, hence generous.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Documents and listings with tens of thousands of keys.
const MAX_MESSAGE: usize = 64 << 20;

pub type Rpc = AdminClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer TOKEN` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}

pub struct Client {
    pub rpc: Rpc,
    pub url: String,
}

impl Client {
    pub async fn connect(target: &Target) -> Result<Client, Error> {
        let url = target.endpoint.trim_end_matches('/').to_owned();
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(Error::Usage(format!(
                "invalid endpoint {url:?}: expected http://HOST:PORT or https://HOST:PORT"
            )));
        }
        check_cleartext(&url, target.allow_insecure)?;
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|_| Error::Usage(format!("invalid endpoint URL {url:?}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        if https {
            // One crypto provider for the process (aws-lc-rs, as the rest of the workspace).
            let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &target.ca_file {
                let (pem, _) = pem::certificates("--ca-file", ca).map_err(|e| Error::Usage(e.to_string()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let Some(client) = &target.client {
                tls = tls.identity(identity(client)?);
            }
            // Builds the rustls config: a key that does not belong to its certificate fails here.
            endpoint = endpoint.tls_config(tls).map_err(|e| match &target.client {
                Some(c) => Error::Usage(format!(
                    "{} {} with {} {}: {}",
                    c.cert_from,
                    c.cert.display(),
                    c.key_from,
                    c.key.display(),
                    transport_reason(&e)
                )),
                None => Error::Usage(format!("TLS: {}", transport_reason(&e))),
            })?;
        }
        let channel = endpoint.connect().await.map_err(|e| unreachable(&url, &e))?;
        let header = format!("Bearer {}", target.token)
            .parse::<MetadataValue<_>>()
            .map_err(|_| Error::Usage("the admin token contains characters that cannot be sent in a header".into()))?;
        let rpc = AdminClient::with_interceptor(channel, Bearer(header))
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(Client { rpc, url })
    }
}

/// Refuses `http://` to a host that is not loopback unless `allowed`: the
/// admin token, and the documents it sends and reads, would cross the network in clear.
fn check_cleartext(url: &str, allowed: bool) -> Result<(), Error> {
    if allowed || !switchyard_proto::cleartext::is_cleartext_remote(url) {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "endpoint {url}: http:// to a host that is not loopback would send the admin token in clear; \
         use https://, or pass --allow-insecure on a network you trust"
    )))
}

/// The client certificate and key, read and checked; errors name where each
/// was named and its path, never the file's content.
fn identity(client: &ClientCert) -> Result<Identity, Error> {
    // `PemFileError`'s flag is fixed; the message names the actual source (flag, variable or config file).
    let named = |from: &str, e: pem::PemFileError| Error::Usage(format!("{from} {}: {}", e.path.display(), e.reason));
    let (cert, _) = pem::certificates("--client-cert", &client.cert).map_err(|e| named(&client.cert_from, e))?;
    let key = pem::private_key("--client-key", &client.key).map_err(|e| named(&client.key_from, e))?;
    Ok(Identity::from_pem(cert, key))
}

/// "Cannot reach" with the transport failure in plain words; a control plane
/// that wants a client certificate and got none says how to give one.
fn unreachable(url: &str, e: &(dyn std::error::Error + 'static)) -> Error {
    let mut reason = transport_reason(e);
    // The server's TLS alert (rustls: `received fatal alert: CertificateRequired`).
    if let Some(alert) = reason.strip_prefix("received fatal alert: ") {
        if alert == "CertificateRequired" {
            reason.push_str(" (the control plane requires a client certificate: give --client-cert and --client-key)");
        } else if alert == "UnknownCA" || alert.contains("Certificate") {
            // Only the server's checks of the client certificate end this way.
            reason.push_str(" (the control plane refused the client certificate)");
        }
    }
    Error::Unreachable { url: url.to_owned(), reason }
}

/// A call's result as `Result<T, Error>`.
pub trait Reply<T> {
    fn reply(self, client_url: &str) -> Result<T, Error>;
}

impl<T> Reply<T> for Result<tonic::Response<T>, tonic::Status> {
    fn reply(self, url: &str) -> Result<T, Error> {
        self.map(tonic::Response::into_inner).map_err(|status| from_status(status, url))
    }
}

/// A transport failure during a call is "cannot reach" (`Unavailable`, or
/// `Unknown` when the connection failed after it was made, as when the server
/// refuses the client's certificate); anything else is the server's answer.
fn from_status(status: tonic::Status, url: &str) -> Error {
    use std::error::Error as _;
    if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Unknown)
        && let Some(source) = status.source()
        && source.downcast_ref::<tonic::transport::Error>().is_some()
    {
        return unreachable(url, source);
    }
    Error::status(status.code(), status.message())
}

#[cfg(test)]
mod tests {
    use super::check_cleartext;

    #[test]
    fn http_to_a_remote_endpoint_needs_allow_insecure() {
        let refused = check_cleartext("http://cp.internal:50051", false).unwrap_err().to_string();
        assert!(refused.contains("--allow-insecure") && refused.contains("in clear"), "{refused}");
        assert!(check_cleartext("http://cp.internal:50051", true).is_ok());
        assert!(check_cleartext("http://127.0.0.1:50051", false).is_ok());
        assert!(check_cleartext("https://cp.internal:50051", false).is_ok());
    }
}
