//! Where a webhook may be delivered: the SSRF guard.
//!
//! A webhook URL comes from configuration, but its host name resolves at
//! delivery time, and a name can point anywhere (at the metadata service,
//! at Redis on loopback). So the host is resolved here, every address it
//! resolves to must be public (unless `WEBHOOK_ALLOW_PRIVATE`), and the
//! connection is then made to the checked address only (see `client`): a
//! second resolution by the HTTP stack, which could answer differently, never
//! happens.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why a URL cannot be delivered to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The host resolves to an address that is not public: never retried.
    #[error("refused: {host} resolves to {ip}, which is not a public address (WEBHOOK_ALLOW_PRIVATE is off)")]
    NotPublic { host: String, ip: IpAddr },
    /// The name did not resolve (now): retried.
    #[error("{host} does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

/// Whether `ip` is a public unicast address a webhook may go to: not
/// loopback, private, link-local, CGNAT, multicast, broadcast, unspecified,
/// documentation or reserved, and not an IPv6 form of an IPv4 address
/// (mapped, compatible, NAT64, 6to4, Teredo), which could hide any of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || ip.is_multicast()
        || a >= 240) // reserved, and broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embeds_v4 = segments[..5] == [0; 5] && (segments[5] == 0 || segments[5] == 0xffff);
    !(ip.is_unspecified()
        || ip.is_loopback()
        || embeds_v4 // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible)
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x0064 && segments[1] == 0xff9b) // NAT64 64:ff9b::/96 (and /48)
        || segments[0] == 0x2002 // 6to4
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[0] == 0x0100 && segments[1..4] == [0; 3])) // discard-only 100::/64
}

/// Resolves the URL's host and port to the one address to connect to: the
/// first it resolves to, provided every one of them may be delivered to.
pub async fn resolve(uri: &http::Uri, allow_private: bool) -> Result<SocketAddr, AddressError> {
    let host = uri.host().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    let unresolved = |reason: String| AddressError::Unresolved {
        host: host.to_owned(),
        reason,
    };
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| unresolved(e.to_string()))?
            .collect(),
    };
    if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(AddressError::NotPublic {
            host: host.to_owned(),
            ip: bad.ip(),
        });
    }
    addresses
        .into_iter()
        .next()
        .ok_or_else(|| unresolved("no address".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
        for private in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.18.0.1",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
    }

    #[tokio::test]
    async fn a_private_host_is_refused_unless_allowed_and_the_port_follows_the_scheme() {
        let loopback: http::Uri = "http://127.0.0.1:9/hook".parse().expect("uri");
        assert!(matches!(
            resolve(&loopback, false).await,
            Err(AddressError::NotPublic { .. })
        ));
        assert_eq!(resolve(&loopback, true).await, Ok("127.0.0.1:9".parse().expect("addr")));
        let named: http::Uri = "https://localhost/hook".parse().expect("uri");
        let err = resolve(&named, false).await.expect_err("localhost is loopback");
        assert!(err.to_string().contains("not a public address"), "{err}");
        assert_eq!(resolve(&named, true).await.expect("allowed").port(), 443);
        let v6: http::Uri = "http://[::1]:8080/".parse().expect("uri");
        assert!(matches!(resolve(&v6, false).await, Err(AddressError::NotPublic { .. })));
    }
}
