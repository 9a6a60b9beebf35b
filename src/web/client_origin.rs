//! Where a request comes from: the client's address and the browser's User-Agent. The address
//! keys the per-address limits and is recorded with a sign-in so the user can recognise their
//! sessions; the User-Agent is informational only (a browser can say anything).
//!
//! The address is the TCP peer's, unless the peer is one of the configured
//! `trusted_proxies`: then it is taken from `X-Forwarded-For`, reading from the right (the
//! entry our proxy appended) past every trusted proxy, since entries further left were
//! written by the client and prove nothing.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Request},
    http::{Extensions, HeaderMap, header, request::Parts},
};
use ipnet::IpNet;

use crate::{app::AppState, store::user_sessions::Origin};

pub struct ClientOrigin(pub Origin);

impl FromRequestParts<AppState> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip_address = address(
            &parts.extensions,
            &parts.headers,
            &state.config.trusted_proxies,
        )
        .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(ClientOrigin(Origin {
            ip_address,
            user_agent,
        }))
    }
}

/// The client address of `request` (for middleware, before extractors run).
pub fn client_address(state: &AppState, request: &Request) -> Option<IpAddr> {
    address(
        request.extensions(),
        request.headers(),
        &state.config.trusted_proxies,
    )
}

fn address(extensions: &Extensions, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    // Every X-Forwarded-For header, in order, as one list (RFC 9110 §5.3 allows splitting).
    // Walked from the right: each entry was written by the hop to its right, so it is
    // believed only while that hop is one of our proxies. An entry that is not an address
    // ends the walk at the last hop we know.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = forwarded_address(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`) or in brackets, as some proxies write them.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, xff: &[&str], trusted: &[&str]) -> Option<IpAddr> {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 4000)));
        let mut headers = HeaderMap::new();
        for value in xff {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        address(&extensions, &headers, &trusted)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        // No trusted proxies: the header is the client's own claim and is ignored.
        assert_eq!(
            from("203.0.113.9", &["198.51.100.1"], &[]),
            ip("203.0.113.9")
        );
        // Behind one trusted proxy: the entry it appended.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // A client-forged entry on the left does not win over what the proxy appended.
        assert_eq!(
            from("10.0.0.2", &["192.0.2.66, 198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // Two proxies, the header split across lines.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1", "10.0.0.7"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // A trusted peer with no (or a garbled) header: the peer.
        assert_eq!(from("10.0.0.2", &[], &["10.0.0.0/8"]), ip("10.0.0.2"));
        assert_eq!(
            from("10.0.0.2", &["nonsense"], &["10.0.0.0/8"]),
            ip("10.0.0.2")
        );
        // Junk written by the client on the left does not discard what the proxy appended.
        assert_eq!(
            from("10.0.0.2", &["garbage, , 198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        // Junk between two of our proxies ends the walk at the last proxy.
        assert_eq!(
            from(
                "10.0.0.2",
                &["198.51.100.1, unknown, 10.0.0.7"],
                &["10.0.0.0/8"]
            ),
            ip("10.0.0.7")
        );
        // Ports and brackets, as some proxies write them.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1:4711"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            from("10.0.0.2", &["[2001:db8::1]:4711"], &["10.0.0.0/8"]),
            ip("2001:db8::1")
        );
        // Only proxies all the way: the leftmost.
        assert_eq!(
            from("10.0.0.2", &["10.0.0.9, 10.0.0.7"], &["10.0.0.0/8"]),
            ip("10.0.0.9")
        );
        // IPv4-mapped IPv6 peers are IPv4 addresses.
        assert_eq!(
            from("::ffff:10.0.0.2", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("198.51.100.1")
        );
    }
}
