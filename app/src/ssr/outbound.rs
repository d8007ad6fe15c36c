//! Requests the server makes on a customer's behalf (webhook deliveries) reach only public
//! addresses. A host name is resolved and every address it resolves to must be public; the
//! caller then connects to exactly those addresses (the webhook dispatcher uses this as its
//! DNS resolver), so a name cannot resolve to a public address when checked and to an
//! internal one when used. The operator may allow named internal hosts.

use std::net::{IpAddr, SocketAddr};

use crate::domain::network::{host_and_port, is_public};

/// How long a name may take to resolve.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where outbound requests may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Host names or addresses allowed even though they are internal (lower case).
    pub allowed_hosts: Vec<String>,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not an http:// or https:// URL")]
    BadUrl,
    #[error("the host does not resolve")]
    Unresolvable,
    #[error("the host resolves to an internal address")]
    Internal,
}

impl OutboundPolicy {
    fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    /// The addresses to connect to for `host`: all of them public, or the host allowed.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return if is_public(ip) || self.allows(host) {
                Ok(vec![SocketAddr::new(ip, port)])
            } else {
                Err(Refused::Internal)
            };
        }
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<SocketAddr> = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
            .await
            .map_err(|_| Refused::Unresolvable)?
            .map_err(|_| Refused::Unresolvable)?
            .collect();
        if addrs.is_empty() {
            return Err(Refused::Unresolvable);
        }
        if self.allows(host) {
            return Ok(addrs);
        }
        // One internal answer is enough to refuse: a name that mixes them is up to something.
        if addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(Refused::Internal);
        }
        Ok(addrs)
    }

    /// Checks a URL's destination now (at creation; every delivery checks again).
    pub async fn check_url(&self, url: &str) -> Result<(), Refused> {
        let (host, port) = host_and_port(url).ok_or(Refused::BadUrl)?;
        self.resolve(&host, port).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_destinations_are_refused_unless_allowed() {
        let p = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1:8080/",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:3000/",
        ] {
            assert_eq!(p.check_url(url).await, Err(Refused::Internal), "{url}");
        }
        assert_eq!(p.check_url("http://8.8.8.8/").await, Ok(()));
        assert_eq!(
            p.check_url("http://no-such-host.invalid/").await,
            Err(Refused::Unresolvable)
        );
        let allowed = OutboundPolicy {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
        };
        assert_eq!(allowed.check_url("http://localhost:3000/").await, Ok(()));
        assert_eq!(allowed.check_url("http://127.0.0.1:1/").await, Ok(()));
        assert_eq!(
            allowed.check_url("http://10.0.0.1/").await,
            Err(Refused::Internal)
        );
    }
}
