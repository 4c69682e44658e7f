//! Whether a control-plane URL would carry secrets (node tokens, admin
//! tokens, upstream keys) in clear over a network: `http://` to any host
//! but a loopback one. The data plane and syctl refuse such URLs unless
//! told otherwise.

use std::net::IpAddr;

/// `http://` (any case) to a host that is not `localhost`, `127.0.0.0/8` or
/// `::1`. A URL that cannot be parsed counts as remote; `https://` and other
/// schemes are not cleartext here.
pub fn is_cleartext_remote(url: &str) -> bool {
    let Some(scheme) = url.get(..7) else { return false };
    if !scheme.eq_ignore_ascii_case("http://") {
        return false;
    }
    let host = url::Url::parse(url).ok().and_then(|u| u.host().map(|h| h.to_owned()));
    !match host {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_cleartext_remote;

    #[test]
    fn http_to_a_remote_host_is_cleartext() {
        for url in ["http://cp-1.internal:50051", "HTTP://10.0.0.5:50051", "http://[2001:db8::1]:50051", "http://"] {
            assert!(is_cleartext_remote(url), "{url}");
        }
    }

    #[test]
    fn loopback_and_https_are_not() {
        for url in [
            "http://127.0.0.1:50051",
            "http://127.9.8.7:1",
            "http://localhost:50051",
            "http://LOCALHOST",
            "http://[::1]:50051",
            "https://cp-1.internal:50051",
            "HTTPS://10.0.0.5",
        ] {
            assert!(!is_cleartext_remote(url), "{url}");
        }
    }
}
