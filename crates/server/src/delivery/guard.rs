//! The SSRF guard: webhook URLs are chosen by tenants, so the server must not become their way into its own
//! network. Every address a host name resolves to is checked at connect time (not only when the URL is saved),
//! which also defeats DNS rebinding. Loopback, private, link-local, shared, documentation and multicast
//! ranges are refused unless the operator allows them (tests and single-machine setups allow loopback).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which internal targets the operator allows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow {
    pub loopback: bool,
    pub private: bool,
}

/// Whether connecting to `ip` is allowed.
pub fn permitted(ip: IpAddr, allow: Allow) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    if ip.is_loopback() {
        return allow.loopback;
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    let internal = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
                || (a == 192 && b == 0) // IETF protocol assignments
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || a >= 240 // reserved
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
        }
    };
    !internal || allow.private
}

/// A resolver that drops the addresses the guard refuses, and fails when none is left.
pub struct GuardedResolver {
    pub allow: Allow,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = addrs.into_iter().filter(|a| permitted(a.ip(), allow)).collect();
            if kept.is_empty() {
                return Err(format!("{host} resolves only to addresses webhooks may not reach").into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

impl GuardedResolver {
    pub fn shared(allow: Allow) -> Arc<Self> {
        Arc::new(Self { allow })
    }
}

/// Checks a URL whose host is an IP literal (the resolver never sees those).
pub fn check_url(url: &reqwest::Url, allow: Allow) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err("the URL has no host".into()),
    };
    if permitted(ip, allow) { Ok(()) } else { Err(format!("{ip} is an address webhooks may not reach")) }
}

/// Whether `url`'s host is one of `hosts` (any host when the list is empty): checked before any lookup, so that
/// a destination outside the list is never resolved or connected to.
pub fn listed(url: &reqwest::Url, hosts: &[String]) -> Result<(), String> {
    if hosts.is_empty() {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    if hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        Ok(())
    } else {
        Err(format!("{host} is not in webhooks.allowed_hosts"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_ranges_unless_allowed() {
        let none = Allow::default();
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!permitted(ip.parse().unwrap(), none), "{ip} must be refused");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(permitted(ip.parse().unwrap(), none), "{ip} must be allowed");
        }
        let loopback = Allow { loopback: true, private: false };
        assert!(permitted("127.0.0.1".parse().unwrap(), loopback));
        assert!(!permitted("10.0.0.1".parse().unwrap(), loopback));
    }
}
