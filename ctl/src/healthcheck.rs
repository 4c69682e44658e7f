//! `syctl healthcheck URL`: one `GET` of a health page (`/healthz`,
//! `/readyz`), exit 0 on a 2xx answer and 1 otherwise. It is what a
//! container's health check runs in the image (deploy/container/Dockerfile),
//! which has neither a shell nor curl. It talks no gRPC and needs no token.

use crate::Ctx;
use crate::error::Error;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of the answer read: the status line is all that is looked at.
const MAX_HEAD: usize = 8 * 1024;

pub async fn run(ctx: &mut Ctx<'_>, url: &str, timeout: Duration) -> Result<i32, Error> {
    let target = Target::parse(url)?;
    let fail = |reason: String| Error::Health { url: url.to_owned(), reason };
    let status = match tokio::time::timeout(timeout, get(&target)).await {
        Ok(answer) => answer.map_err(fail)?,
        Err(_) => return Err(fail(format!("no answer within {timeout:?}"))),
    };
    if !(200..300).contains(&status) {
        return Err(fail(format!("answered HTTP {status}")));
    }
    writeln!(ctx.out, "ok: HTTP {status}")?;
    Ok(0)
}

/// Where to send the `GET`: `http://HOST[:PORT][/PATH]`.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    /// As written in the URL, for the `Host` header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Usage(format!("invalid health-check URL {url:?}: {why}"));
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("expected http://HOST[:PORT][/PATH]"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ' || b >= 0x80) {
            return Err(bad("the path has a space, a control or a non-ASCII character"));
        }
        if authority.contains('@') {
            return Err(bad("no user name or password"));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed [ in the host"))?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("the port is not 1-65535"))?,
            None => 80,
        };
        Ok(Target { host: host.to_owned(), port, authority: authority.to_owned(), path: path.to_owned() })
    }
}

/// The status code of the answer to one `GET`.
async fn get(target: &Target) -> Result<u16, String> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port)).await.map_err(|e| io(&e))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: syctl-healthcheck\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| io(&e))?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut chunk).await.map_err(|e| io(&e))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    status(&head).ok_or_else(|| "not an HTTP answer".to_owned())
}

/// `HTTP/1.x NNN ...` -> NNN.
fn status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    let code = parts.next().filter(|c| c.len() == 3)?;
    code.parse().ok().filter(|c| (100..600).contains(c))
}

/// The failure in plain words (`connection refused`), as the rest of syctl says it.
fn io(e: &std::io::Error) -> String {
    crate::error::transport_reason(e)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        let t = Target::parse("http://127.0.0.1:9901/healthz").unwrap();
        assert_eq!(
            t,
            Target {
                host: "127.0.0.1".into(),
                port: 9901,
                authority: "127.0.0.1:9901".into(),
                path: "/healthz".into()
            }
        );
        let t = Target::parse("http://[::1]:9091/readyz").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.authority.as_str()), ("::1", 9091, "[::1]:9091"));
        let t = Target::parse("http://localhost").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("localhost", 80, "/"));
        for (url, why) in [
            ("https://127.0.0.1:9901/healthz", "expected http://HOST[:PORT][/PATH]"),
            ("127.0.0.1:9901", "expected http://HOST[:PORT][/PATH]"),
            ("http://:9901/healthz", "no host"),
            ("http://127.0.0.1:0/healthz", "the port is not 1-65535"),
            ("http://127.0.0.1:99999/healthz", "the port is not 1-65535"),
            ("http://127.0.0.1:x/healthz", "the port is not 1-65535"),
            ("http://u:p@127.0.0.1/healthz", "no user name or password"),
            ("http://[::1/healthz", "an unclosed [ in the host"),
            ("http://127.0.0.1/a b", "the path has a space, a control or a non-ASCII character"),
            ("http://127.0.0.1/a\r\nX: y", "the path has a space, a control or a non-ASCII character"),
        ] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert_eq!(e, format!("invalid health-check URL {url:?}: {why}"));
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status(b"HTTP/1.1 204\r\n"), Some(204));
        for head in
            [&b""[..], b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 2000 OK\r\n", b"HTTP/2 200\r\n", b"HTTP/1.1 099 x\r\n"]
        {
            assert_eq!(status(head), None, "{head:?}");
        }
    }
}
