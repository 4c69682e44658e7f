//! The gRPC connection to the control plane's `Admin` service: TLS for
//! `https://` endpoints, the admin token on every call, and every failure
//! turned into one [`Error`].

use crate::config::Target;
use crate::error::{Error, transport_reason};
use std::time::Duration;
use switchyard_proto::pb::admin_client::AdminClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

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
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|_| Error::Usage(format!("invalid endpoint URL {url:?}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        if https {
            // One crypto provider for the process (aws-lc-rs, as the rest of the workspace).
            let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &target.ca_file {
                let (pem, _) =
                    switchyard_proto::pem::certificates("--ca-file", ca).map_err(|e| Error::Usage(e.to_string()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(|e| Error::Usage(format!("TLS: {}", transport_reason(&e))))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| Error::Unreachable { url: url.clone(), reason: transport_reason(&e) })?;
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

/// A call's result as `Result<T, Error>`.
pub trait Reply<T> {
    fn reply(self, client_url: &str) -> Result<T, Error>;
}

impl<T> Reply<T> for Result<tonic::Response<T>, tonic::Status> {
    fn reply(self, url: &str) -> Result<T, Error> {
        self.map(tonic::Response::into_inner).map_err(|status| from_status(status, url))
    }
}

/// A transport failure during a call is "cannot reach"; anything else is the server's answer.
fn from_status(status: tonic::Status, url: &str) -> Error {
    use std::error::Error as _;
    if status.code() == tonic::Code::Unavailable
        && let Some(source) = status.source()
        && source.downcast_ref::<tonic::transport::Error>().is_some()
    {
        return Error::Unreachable { url: url.to_owned(), reason: transport_reason(source) };
    }
    Error::status(status.code(), status.message())
}
