//! Who the client is, for `rateKey: CLIENT_IP`.
//!
//! The socket peer is the client unless it is one of the configured trusted proxies (load
//! balancers in front of the gateway). Then the client is the **rightmost** `X-Forwarded-For`
//! entry that is not itself a trusted proxy: everything left of it was written by parties the
//! gateway cannot trust, so a client cannot pick its own bucket by sending a forged header.
//! Without trusted proxies the header is ignored entirely.
//!
//! IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`, as dual-stack listeners report IPv4 clients) count
//! as IPv4, and IPv6 clients share a bucket per /64, as OCI groups them: one host usually owns a
//! whole /64, so per-address buckets would be trivially evaded.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

use super::store::Subject;

/// `X-Forwarded-For`.
pub(crate) static X_FORWARDED_FOR: http::HeaderName =
    http::HeaderName::from_static("x-forwarded-for");

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A malformed CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR block {text:?}: {reason}")]
pub struct CidrError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, CidrError> {
        let err = |reason| CidrError {
            text: text.to_owned(),
            reason,
        };
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = canonical(addr.trim().parse().map_err(|_| err("not an IP address"))?);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| err("the prefix length is out of range"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` is in the block; an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits - prefix);
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// IPv4-mapped IPv6 addresses as IPv4; everything else unchanged.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The rate-limit bucket of an address: the address for IPv4, its /64 for IPv6.
pub(crate) fn subject_of(ip: Option<IpAddr>) -> Subject<'static> {
    match ip.map(canonical) {
        Some(IpAddr::V4(v4)) => Subject::V4(v4),
        Some(IpAddr::V6(v6)) => Subject::v6(v6),
        None => Subject::Unknown,
    }
}

/// The proxies whose `X-Forwarded-For` entries are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    blocks: Box<[Cidr]>,
}

impl TrustedProxies {
    /// No trusted proxies: the socket peer is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts the peers in `blocks`.
    pub fn new(blocks: impl IntoIterator<Item = Cidr>) -> Self {
        Self {
            blocks: blocks.into_iter().collect(),
        }
    }

    /// Parses a list of CIDR blocks (`gateway.toml`'s `trusted_proxies`), failing on the first
    /// bad one.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, CidrError> {
        list.iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<Cidr>, _>>()
            .map(Self::new)
    }

    /// Whether no proxy is trusted, so that `X-Forwarded-For` is ignored.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The client's address: `peer`, or when `peer` is a trusted proxy, the rightmost
    /// `X-Forwarded-For` entry that is not trusted. An unparsable entry ends the walk at the
    /// last good (trusted) address; when every entry is trusted the leftmost one is the client.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical);
        let mut client = peer?;
        if self.blocks.is_empty() || !self.contains(client) {
            return Some(client);
        }
        let entries = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|value| value.to_str().unwrap_or("").rsplit(','));
        for entry in entries {
            match parse_entry(entry) {
                Some(ip) => {
                    client = ip;
                    if !self.contains(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        Some(client)
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    let host = match entry.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => entry.rsplit_once(':')?.0,
    };
    host.parse().ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(&X_FORWARDED_FOR, v.parse().expect("value"));
        }
        headers
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let net: Cidr = "10.0.0.0/8".parse().expect("cidr");
        assert!(net.contains(ip("10.1.2.3")));
        assert!(
            net.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!net.contains(ip("11.0.0.1")));
        let v6: Cidr = "2001:db8::/32".parse().expect("cidr");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains(ip("8.8.8.8")));
        let one: Cidr = "::1".parse().expect("cidr");
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example.com/8".parse::<Cidr>().is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/8", "nope"]).is_err());
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let proxies = TrustedProxies::none();
        let headers = xff(&["1.1.1.1"]);
        assert_eq!(
            proxies.client_ip(Some(ip("9.9.9.9")), &headers),
            Some(ip("9.9.9.9"))
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).expect("cidrs");
        // A client forging a leftmost entry does not choose its bucket.
        let headers = xff(&["6.6.6.6, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("203.0.113.7"))
        );
        // A peer that is not trusted is the client, whatever it forwards.
        assert_eq!(
            proxies.client_ip(Some(ip("8.8.8.8")), &headers),
            Some(ip("8.8.8.8"))
        );
        // Ports and brackets are tolerated.
        let headers = xff(&["[2001:db8::1]:443, 203.0.113.9:80"]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("203.0.113.9"))
        );
        // Every entry trusted: the leftmost is the client.
        let headers = xff(&["10.0.0.9, 10.0.0.8"]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("10.0.0.9"))
        );
        // Garbage stops the walk at the last trusted hop.
        let headers = xff(&["1.1.1.1, garbage"]);
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.1")), &headers),
            Some(ip("10.0.0.1"))
        );
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_ip(Some(ip("10.0.0.1")), &HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a = subject_of(Some(ip("2001:db8:1:2::1")));
        let b = subject_of(Some(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        let c = subject_of(Some(ip("2001:db8:1:3::1")));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            subject_of(Some(ip("::ffff:1.2.3.4"))),
            subject_of(Some(ip("1.2.3.4")))
        );
        assert_eq!(subject_of(None), Subject::Unknown);
    }
}
