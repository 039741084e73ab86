//! Where a webhook may post: public unicast addresses only, unless the operator allows private
//! targets. Checked on the URL when a hook is created and on every address a name resolves to
//! when a delivery connects, so a name that resolves inward (or is re-pointed later) is refused
//! too; redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Why a webhook URL is refused, for the person creating it.
pub type Refusal = &'static str;

/// Parses a webhook URL: `http` or `https`, a host, no credentials, no control characters or
/// spaces (which a lenient parser would drop or encode, storing a URL other than the one shown).
pub fn parse(raw: &str) -> Result<Url, Refusal> {
    if raw.is_empty()
        || raw.len() > 2000
        || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(
            "url must be an http:// or https:// URL of at most 2000 characters, without spaces or control characters",
        );
    }
    let url = Url::parse(raw).map_err(|_| "url is not a valid URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must be an http:// or https:// URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url must not carry credentials (user:password@): sign deliveries with the webhook secret instead",
        );
    }
    if url.host().is_none() {
        return Err("url needs a host");
    }
    Ok(url)
}

/// Refuses a URL whose host is a non-public address or a local name, before any lookup.
/// (The URL parser has already turned `0x7f000001` and `2130706433` into `127.0.0.1`.)
pub fn check_host(url: &Url) -> Result<(), Refusal> {
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => Err(PRIVATE),
        Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => Err(PRIVATE),
        Some(url::Host::Domain(name)) if is_local_name(name) => Err(PRIVATE),
        Some(_) => Ok(()),
        None => Err("url needs a host"),
    }
}

const PRIVATE: Refusal = "url must point at a public address: private, loopback, link-local, multicast and unspecified targets are refused";

/// Resolves the URL's host as a delivery would and refuses it when any address is not public.
/// A name that does not resolve now is accepted: each delivery checks again.
pub async fn check_resolved(url: &Url) -> Result<(), Refusal> {
    let (Some(url::Host::Domain(name)), Some(port)) = (url.host(), url.port_or_known_default())
    else {
        return Ok(());
    };
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.iter().all(|a| is_public(a.ip())) {
                Ok(())
            } else {
                Err(PRIVATE)
            }
        }
        _ => Ok(()),
    }
}

fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// Whether `ip` is a public unicast address: not loopback, private, shared (CGNAT),
/// link-local, multicast, broadcast, unspecified, reserved or documentation space, including
/// IPv4 addresses carried inside IPv6 ones.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address inside them.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[..6] == [0; 6]) // IPv4-compatible and other ::/96 forms
}

/// The resolver deliveries connect through: the system's, less every non-public address. A
/// name left with none fails the delivery as unreachable.
pub struct PublicResolver;

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        parse(raw).and_then(|u| check_host(&u)).is_err()
    }

    #[tokio::test]
    async fn deliveries_connect_to_public_addresses_only() {
        use reqwest::dns::Resolve;
        // A name that resolves inward (here, through /etc/hosts) leaves no address to connect to.
        let inward = PublicResolver.resolve("localhost".parse().unwrap()).await;
        assert!(inward.is_err());
    }

    #[test]
    fn inward_and_malformed_targets_are_refused() {
        for raw in [
            "http://127.0.0.1/x",
            "http://localhost:8080/x",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
            "http://[::1]/x",
            "http://0x7f000001/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://10.0.0.1/x",
            "http://172.16.5.4/x",
            "http://192.168.1.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/x",
            "http://0.0.0.0/x",
            "http://224.0.0.1/x",
            "http://255.255.255.255/x",
            "http://[fd00::1]/x",
            "http://[fe80::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::ffff:10.0.0.1]/x",
            "http://[64:ff9b::a00:1]/x",
            "http://[2002:7f00:1::]/x",
            "http://[::]/x",
            "http://intranet/x",
            "http://printer.local/x",
            "http://user:pass@hooks.example.com/x",
            "http://hooks.example.com/x\r\nX-Injected: 1",
            "http://hooks.example.com/\0",
            "http://hooks.example.com/ x",
            "ftp://hooks.example.com/x",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(refused(raw), "{raw:?} was accepted");
        }
        for raw in [
            "https://hooks.example.com/scry",
            "http://93.184.215.14:8080/x",
            "https://[2606:4700::1111]/x",
        ] {
            assert!(!refused(raw), "{raw:?} was refused");
        }
    }
}
