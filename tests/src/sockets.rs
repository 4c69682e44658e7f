//! The machine's TCP sockets as the kernel lists them (Linux `/proc/net/tcp`):
//! for waiting on what a process under test did with its connections when
//! it exposes no counter of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

/// Sockets of this machine connected to `peer` that are still open on their
/// side: established, or closed by `peer` but not yet by their owner
/// (CLOSE_WAIT). IPv4 peers only.
pub fn open_to(peer: SocketAddr) -> usize {
    let SocketAddr::V4(peer) = peer else { panic!("an IPv4 peer: {peer}") };
    let wanted = format!("{:08X}:{:04X}", u32::from_le_bytes(peer.ip().octets()), peer.port());
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp (Linux)");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ...; st 01 ESTABLISHED, 08 CLOSE_WAIT
            fields.len() > 3 && fields[2] == wanted && matches!(fields[3], "01" | "08")
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_the_connections_to_a_peer_until_their_owner_closes_them() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = listener.local_addr().unwrap();
        assert_eq!(open_to(peer), 0);
        let client = tokio::net::TcpStream::connect(peer).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(open_to(peer), 1, "the client's socket, not the server's");
        drop(server);
        assert_eq!(open_to(peer), 1, "closed by the peer only: CLOSE_WAIT");
        drop(client);
        assert_eq!(open_to(peer), 0);
    }
}
