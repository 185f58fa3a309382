//! `X-Twilio-Signature`, computed as Twilio's `RequestValidator` does: HMAC-SHA1 keyed with the auth token over the
//! full URL Twilio requested (scheme, host, path and query string) followed by each POST parameter's name and value,
//! in the order of the names (a name given several times: its values in order), base64-encoded. Twilio may have
//! requested the URL with or without the scheme's default port, so, as the validator, both spellings are tried.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The signature Twilio sends for a request to `url` with `params`.
pub fn expected_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    // HMAC accepts keys of any length.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else { return String::new() };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for `url` and `params` (compared in constant time), trying `url` as given, with
/// the scheme's default port, and without it.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    if signature.is_empty() || auth_token.is_empty() {
        return false;
    }
    spellings(url)
        .iter()
        .any(|u| constant_time_eq(expected_signature(auth_token, u, params).as_bytes(), signature.as_bytes()))
}

/// `url`, and `url` with its default port added or removed.
fn spellings(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else { return out };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    // The host part after any user info; an IPv6 literal keeps its colons inside brackets.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let port_colon = match host_port.rfind(':') {
        Some(i) if !host_port[i..].contains(']') => Some(i),
        _ => None,
    };
    match port_colon {
        Some(i) if &host_port[i + 1..] == default => {
            out.push(format!("{scheme}://{}{}{tail}", &authority[..host_start], &host_port[..i]));
        }
        Some(_) => {}
        None => out.push(format!("{scheme}://{authority}:{default}{tail}")),
    }
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_documented_example_signs_as_twilio_does() {
        // The example of Twilio's security documentation, signed as twilio-node's RequestValidator signs it.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(expected_signature("12345", url, &params()), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &params(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(verify(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", url, &params(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ"));
        assert!(!verify("54321", url, &params(), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut changed = params();
        changed[2].1 = "1235".into();
        assert!(!verify("12345", url, &changed, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify("12345", url, &params(), ""));
    }

    #[test]
    fn default_ports_are_tried_both_ways() {
        assert_eq!(spellings("https://a.test/x"), ["https://a.test/x", "https://a.test:443/x"]);
        assert_eq!(spellings("https://a.test:443/x?y"), ["https://a.test:443/x?y", "https://a.test/x?y"]);
        assert_eq!(spellings("http://a.test:8080/x"), ["http://a.test:8080/x"]);
        assert_eq!(spellings("http://[::1]/x"), ["http://[::1]/x", "http://[::1]:80/x"]);
        assert_eq!(spellings("ftp://a.test/x"), ["ftp://a.test/x"]);
    }
}
