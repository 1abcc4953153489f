//! Where a runbook's `http` step may go. A parameter that ends up in a URL
//! must not steer the request: its value is one path segment (dots encoded,
//! `.` and `..` refused), the URL keeps the template's scheme, host, port and
//! literal path segments, and a host that came from a parameter is not the
//! machine itself, its link (cloud metadata services live there) or a
//! metadata name, unless it is the inventory target the runbook acts on.

use std::net::IpAddr;

/// True for addresses that reach this machine, its network link or a cloud
/// metadata service: loopback, unspecified, link-local (169.254.0.0/16,
/// fe80::/10, where 169.254.169.254 lives), Alibaba's 100.100.100.200 and
/// AWS's fd00:ec2::254; IPv4-mapped forms included.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.octets() == [100, 100, 100, 200]
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254]
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal_ip(IpAddr::V4(v4)))
        }
    }
}

/// True for host names that mean this machine or a metadata service, and
/// for IP literals [`is_internal_ip`] refuses.
pub fn is_internal_host(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "metadata"
        || host == "metadata.google.internal"
        || host.parse::<IpAddr>().is_ok_and(is_internal_ip)
}

/// Why a filled-in URL was refused.
pub fn check_url(template: &str, filled: &str) -> Result<reqwest::Url, String> {
    let placeholder = regex_lite_placeholders(template);
    let expected = reqwest::Url::parse(&placeholder)
        .map_err(|e| format!("the runbook's URL {template:?} does not parse: {e}"))?;
    let url = reqwest::Url::parse(filled).map_err(|e| format!("the URL does not parse: {e}"))?;
    if url.scheme() != expected.scheme() {
        return Err(format!("the URL's scheme became {:?}", url.scheme()));
    }
    let host_is_fixed = !template_host(template).contains('{');
    if host_is_fixed && (url.host_str() != expected.host_str() || url.port() != expected.port()) {
        return Err("the URL's host changed".to_owned());
    }
    let want: Vec<&str> = expected.path_segments().into_iter().flatten().collect();
    let got: Vec<&str> = url.path_segments().into_iter().flatten().collect();
    let literal: Vec<bool> = template_path(template)
        .split('/')
        .skip(1)
        .map(|s| !s.contains('{'))
        .collect();
    if want.len() != got.len()
        || want
            .iter()
            .zip(&got)
            .zip(literal.iter().chain(std::iter::repeat(&true)))
            .any(|((w, g), literal)| *literal && w != g)
    {
        return Err(format!(
            "a parameter changed the URL's path to {:?}",
            url.path()
        ));
    }
    Ok(url)
}

/// `template` with every `{name}` replaced by `x`, to parse its structure.
fn regex_lite_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut depth = 0;
    for c in template.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push('x');
                }
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The authority part of a URL template (between `://` and the next `/`).
fn template_host(template: &str) -> &str {
    let rest = template.split_once("://").map_or(template, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// The path part of a URL template (from the first `/` after the authority,
/// without query or fragment).
fn template_path(template: &str) -> &str {
    let rest = template.split_once("://").map_or(template, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or_default()
}

/// At run time, a host that came from a parameter: every address it
/// resolves to must be outside [`is_internal_ip`]; returns them, so the
/// request goes to exactly the addresses checked (no second lookup a DNS
/// answer could change).
pub async fn resolve_outside(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, String> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    if let Some(internal) = addrs.iter().find(|a| is_internal_ip(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, an address of this machine, its link or a metadata service",
            internal.ip()
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_loopback_and_link_local_are_internal() {
        for host in [
            "169.254.169.254",
            "127.0.0.1",
            "localhost",
            "api.localhost",
            "metadata.google.internal",
            "[::1]",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "fe80::1",
        ] {
            assert!(is_internal_host(host), "{host}");
        }
        for host in ["10.0.0.5", "app-prd-01.example.com", "192.168.1.10"] {
            assert!(!is_internal_host(host), "{host}");
        }
    }

    #[test]
    fn a_dot_segment_cannot_climb_out_of_the_templates_path() {
        let template = "https://api.example.com/api/items/{id}/restart";
        assert!(check_url(template, "https://api.example.com/api/items/42/restart").is_ok());
        let climbed = check_url(template, "https://api.example.com/api/items/../restart");
        assert!(climbed.unwrap_err().contains("path"));
        let encoded = check_url(template, "https://api.example.com/api/items/%2E%2E/restart");
        assert!(encoded.is_err(), "the URL parser collapses %2E%2E too");
    }

    #[test]
    fn the_host_and_scheme_stay_the_templates() {
        let template = "https://api.example.com/items/{id}";
        assert!(check_url(template, "https://evil.example.net/items/1").is_err());
        assert!(check_url(template, "http://api.example.com/items/1").is_err());
        let steered = "https://{host}/items/{id}";
        assert!(check_url(steered, "https://other.example.com/items/1").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_run_time() {
        let refused = resolve_outside("localhost", 80).await.unwrap_err();
        assert!(refused.contains("localhost"), "{refused}");
    }
}
