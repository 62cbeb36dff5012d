//! Where tokens and API calls go: the login (authority) host, the Graph, Defender XDR and
//! Defender for Endpoint hosts, and the token resource of each API, per cloud, with the
//! `HUNTBOOK_*_URL` overrides. Plain `http://` is refused except on loopback.
//!
//! Hosts and token resources are configured independently: Microsoft's current Defender for
//! Endpoint docs send MDE paths to `api.security.microsoft.com` while the token stays for
//! `https://api.securitycenter.microsoft.com` (defender-api.md §1.3), and an override (the
//! emulator, a proxy) changes the host but never the resource the token is asked for.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::Audience;

/// The environment variables huntbook reads, as an explicit map so callers (tests,
/// `--emulator`) decide what "the environment" is instead of `std::env` being read deep inside.
pub type EnvVars = BTreeMap<String, String>;

/// Overrides the login (authority) base URL, e.g. `http://127.0.0.1:8400`.
pub const ENV_LOGIN_URL: &str = "HUNTBOOK_LOGIN_URL";
/// Overrides the Defender XDR base URL, and the Defender for Endpoint one unless
/// [`ENV_ENDPOINT_URL`] is set.
pub const ENV_API_URL: &str = "HUNTBOOK_API_URL";
/// Overrides the Defender for Endpoint base URL only.
pub const ENV_ENDPOINT_URL: &str = "HUNTBOOK_ENDPOINT_URL";
/// Overrides the Microsoft Graph base URL.
pub const ENV_GRAPH_URL: &str = "HUNTBOOK_GRAPH_URL";
/// Overrides the token resource (not the host) of Defender XDR.
pub const ENV_API_RESOURCE: &str = "HUNTBOOK_API_RESOURCE";
/// Overrides the token resource (not the host) of Defender for Endpoint.
pub const ENV_ENDPOINT_RESOURCE: &str = "HUNTBOOK_ENDPOINT_RESOURCE";
/// Overrides the token resource (not the host) of Microsoft Graph.
pub const ENV_GRAPH_RESOURCE: &str = "HUNTBOOK_GRAPH_RESOURCE";

/// The variables [`env_from_process`] copies: the `HUNTBOOK_*` endpoint settings above and the
/// `AZURE_*` credential settings the `authenticate` step falls back to.
pub const KNOWN_ENV: &[&str] = &[
    ENV_LOGIN_URL,
    ENV_API_URL,
    ENV_ENDPOINT_URL,
    ENV_GRAPH_URL,
    ENV_API_RESOURCE,
    ENV_ENDPOINT_RESOURCE,
    ENV_GRAPH_RESOURCE,
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
];

/// The process environment restricted to [`KNOWN_ENV`]; the one place that reads `std::env` for
/// endpoints (the CLI edge calls it, the library takes the map).
#[must_use]
pub fn env_from_process() -> EnvVars {
    KNOWN_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_string(), v)))
        .collect()
}

/// A Microsoft cloud: the login, API and Graph hosts change together (defender-api.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    /// Worldwide (`login.microsoftonline.com`).
    #[default]
    Commercial,
    /// US Government Community Cloud: worldwide login and Graph, `*-gcc` Defender hosts.
    Gcc,
    /// US Government GCC High: `login.microsoftonline.us`, `graph.microsoft.us`.
    GccHigh,
    /// US Department of Defense: `login.microsoftonline.us`, `dod-graph.microsoft.us`.
    Dod,
}

impl Cloud {
    /// The name used in playbooks and on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc_high",
            Cloud::Dod => "dod",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cloud {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Cloud, EndpointError> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "commercial" | "public" | "global" => Ok(Cloud::Commercial),
            "gcc" => Ok(Cloud::Gcc),
            "gcc_high" | "gcchigh" => Ok(Cloud::GccHigh),
            "dod" => Ok(Cloud::Dod),
            _ => Err(EndpointError::UnknownCloud(s.to_string())),
        }
    }
}

/// Why an endpoint configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// `--cloud` / `cloud:` names no known cloud.
    #[error("unknown cloud `{0}`: expected one of commercial, gcc, gcc_high, dod")]
    UnknownCloud(String),
    /// A URL setting does not parse.
    #[error("{setting}: `{value}` is not a valid URL: {reason}")]
    InvalidUrl {
        setting: String,
        value: String,
        reason: String,
    },
    /// A URL uses a scheme other than http(s), or carries credentials, a query or a fragment.
    #[error("{setting}: `{value}` {reason}")]
    UnsupportedUrl {
        setting: String,
        value: String,
        reason: &'static str,
    },
    /// Plain http to a host that is not loopback: tokens would travel in clear text.
    #[error(
        "{setting}: `{value}` uses plain http to a host that is not loopback; tokens and secrets would cross the network unencrypted (use https, or http only with 127.0.0.1, ::1 or localhost)"
    )]
    PlainHttp { setting: String, value: String },
}

/// The hosts and token resources of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The cloud these were derived from (before overrides).
    pub cloud: Cloud,
    /// Authority base: `{login}/{tenant}/oauth2/v2.0/token`.
    pub login: Url,
    /// Microsoft Graph base (paths carry the version: `/v1.0/security/incidents`).
    pub graph: Url,
    /// Defender XDR base (paths start with `/api/`).
    pub defender: Url,
    /// Defender for Endpoint base (paths start with `/api/`).
    pub endpoint: Url,
    /// Token resource of Graph (the scope is `{resource}/.default`).
    pub graph_resource: String,
    /// Token resource of Defender XDR.
    pub defender_resource: String,
    /// Token resource of Defender for Endpoint.
    pub endpoint_resource: String,
}

struct CloudHosts {
    login: &'static str,
    graph: &'static str,
    defender: &'static str,
    endpoint: &'static str,
    graph_resource: &'static str,
    defender_resource: &'static str,
    endpoint_resource: &'static str,
}

fn hosts(cloud: Cloud) -> CloudHosts {
    // Gov resource URIs are not spelled out by Microsoft; defender-api.md §1.3 infers the gov API
    // host as the resource. HUNTBOOK_*_RESOURCE overrides them if a tenant proves otherwise.
    match cloud {
        Cloud::Commercial => CloudHosts {
            login: "https://login.microsoftonline.com",
            graph: "https://graph.microsoft.com",
            defender: "https://api.security.microsoft.com",
            endpoint: "https://api.security.microsoft.com",
            graph_resource: "https://graph.microsoft.com",
            defender_resource: "https://api.security.microsoft.com",
            endpoint_resource: "https://api.securitycenter.microsoft.com",
        },
        Cloud::Gcc => CloudHosts {
            login: "https://login.microsoftonline.com",
            graph: "https://graph.microsoft.com",
            defender: "https://api-gcc.security.microsoft.us",
            endpoint: "https://api-gcc.securitycenter.microsoft.us",
            graph_resource: "https://graph.microsoft.com",
            defender_resource: "https://api-gcc.security.microsoft.us",
            endpoint_resource: "https://api-gcc.securitycenter.microsoft.us",
        },
        Cloud::GccHigh => CloudHosts {
            login: "https://login.microsoftonline.us",
            graph: "https://graph.microsoft.us",
            defender: "https://api-gov.security.microsoft.us",
            endpoint: "https://api-gov.securitycenter.microsoft.us",
            graph_resource: "https://graph.microsoft.us",
            defender_resource: "https://api-gov.security.microsoft.us",
            endpoint_resource: "https://api-gov.securitycenter.microsoft.us",
        },
        Cloud::Dod => CloudHosts {
            login: "https://login.microsoftonline.us",
            graph: "https://dod-graph.microsoft.us",
            defender: "https://api-gov.security.microsoft.us",
            endpoint: "https://api-gov.securitycenter.microsoft.us",
            graph_resource: "https://dod-graph.microsoft.us",
            defender_resource: "https://api-gov.security.microsoft.us",
            endpoint_resource: "https://api-gov.securitycenter.microsoft.us",
        },
    }
}

fn builtin(url: &'static str) -> Url {
    // invariant: only the literal https URLs of the table above reach this, and
    // `every_cloud_has_https_hosts` parses each of them, so this cannot fail on user data.
    Url::parse(url).expect("built-in endpoint URL")
}

impl Endpoints {
    /// The public endpoints of a cloud, without overrides.
    #[must_use]
    pub fn for_cloud(cloud: Cloud) -> Endpoints {
        let h = hosts(cloud);
        Endpoints {
            cloud,
            login: builtin(h.login),
            graph: builtin(h.graph),
            defender: builtin(h.defender),
            endpoint: builtin(h.endpoint),
            graph_resource: h.graph_resource.to_string(),
            defender_resource: h.defender_resource.to_string(),
            endpoint_resource: h.endpoint_resource.to_string(),
        }
    }

    /// A cloud's endpoints with the `HUNTBOOK_*` overrides of `env` applied.
    ///
    /// `HUNTBOOK_API_URL` moves both Defender XDR and Defender for Endpoint (they share a host in
    /// the commercial cloud and in the emulator) unless `HUNTBOOK_ENDPOINT_URL` moves the latter.
    /// Resources stay the real resource URIs unless a `HUNTBOOK_*_RESOURCE` is set.
    ///
    /// # Errors
    /// A URL that does not parse, is not http(s), carries credentials, a query or a fragment,
    /// or uses plain http to a host that is not loopback.
    pub fn from_env(cloud: Cloud, env: &EnvVars) -> Result<Endpoints, EndpointError> {
        let mut e = Endpoints::for_cloud(cloud);
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(v) = get(ENV_LOGIN_URL) {
            e.login = parse_base_url(ENV_LOGIN_URL, v)?;
        }
        if let Some(v) = get(ENV_GRAPH_URL) {
            e.graph = parse_base_url(ENV_GRAPH_URL, v)?;
        }
        if let Some(v) = get(ENV_API_URL) {
            let url = parse_base_url(ENV_API_URL, v)?;
            e.defender = url.clone();
            e.endpoint = url;
        }
        if let Some(v) = get(ENV_ENDPOINT_URL) {
            e.endpoint = parse_base_url(ENV_ENDPOINT_URL, v)?;
        }
        if let Some(v) = get(ENV_GRAPH_RESOURCE) {
            e.graph_resource = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = get(ENV_API_RESOURCE) {
            e.defender_resource = v.trim_end_matches('/').to_string();
        }
        if let Some(v) = get(ENV_ENDPOINT_RESOURCE) {
            e.endpoint_resource = v.trim_end_matches('/').to_string();
        }
        Ok(e)
    }

    /// Every host on one base URL (the emulator serves all of them on one port); resources stay
    /// the commercial ones.
    ///
    /// # Errors
    /// As [`Endpoints::from_env`] for the URL.
    pub fn all_on(base: &str) -> Result<Endpoints, EndpointError> {
        let url = parse_base_url("base URL", base)?;
        let mut e = Endpoints::for_cloud(Cloud::Commercial);
        e.login = url.clone();
        e.graph = url.clone();
        e.defender = url.clone();
        e.endpoint = url;
        Ok(e)
    }

    /// The API base URL of an audience.
    #[must_use]
    pub fn base(&self, audience: Audience) -> &Url {
        match audience {
            Audience::Graph => &self.graph,
            Audience::Defender => &self.defender,
            Audience::Endpoint => &self.endpoint,
        }
    }

    /// The token resource (App ID URI) of an audience.
    #[must_use]
    pub fn resource(&self, audience: Audience) -> &str {
        match audience {
            Audience::Graph => &self.graph_resource,
            Audience::Defender => &self.defender_resource,
            Audience::Endpoint => &self.endpoint_resource,
        }
    }

    /// The v2 scope that asks for every permission granted on the audience's resource.
    #[must_use]
    pub fn default_scope(&self, audience: Audience) -> String {
        format!("{}/.default", self.resource(audience))
    }

    /// `{login}/{tenant}/oauth2/v2.0/token`. The tenant is percent-encoded as one path segment.
    #[must_use]
    pub fn token_url(&self, tenant: &str) -> Url {
        self.login_url(tenant, "token")
    }

    /// `{login}/{tenant}/oauth2/v2.0/devicecode`.
    #[must_use]
    pub fn device_code_url(&self, tenant: &str) -> Url {
        self.login_url(tenant, "devicecode")
    }

    fn login_url(&self, tenant: &str, leaf: &str) -> Url {
        let mut url = self.login.clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty().extend([tenant, "oauth2", "v2.0", leaf]);
        }
        url
    }

    /// Join a path (`/api/incidents`, `/v1.0/security/incidents`) onto an audience's base,
    /// keeping any path prefix of the base (a proxy at `https://proxy/defender`).
    #[must_use]
    pub fn join(&self, audience: Audience, path: &str) -> String {
        let base = self.base(audience).as_str().trim_end_matches('/');
        if path.starts_with('/') {
            format!("{base}{path}")
        } else {
            format!("{base}/{path}")
        }
    }
}

/// Whether a URL's host is loopback (127.0.0.0/8, ::1, `localhost`).
#[must_use]
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parse and vet a base URL: http(s) only, no credentials, query or fragment, and plain http
/// only on loopback.
///
/// # Errors
/// See [`EndpointError`].
pub fn parse_base_url(setting: &str, value: &str) -> Result<Url, EndpointError> {
    let url = Url::parse(value).map_err(|e| EndpointError::InvalidUrl {
        setting: setting.to_string(),
        value: value.to_string(),
        reason: e.to_string(),
    })?;
    vet_url(setting, value, &url)?;
    Ok(url)
}

fn vet_url(setting: &str, value: &str, url: &Url) -> Result<(), EndpointError> {
    let unsupported = |reason| EndpointError::UnsupportedUrl {
        setting: setting.to_string(),
        value: value.to_string(),
        reason,
    };
    if !url.username().is_empty() || url.password().is_some() {
        // Do not echo the URL: it carries credentials.
        return Err(EndpointError::UnsupportedUrl {
            setting: setting.to_string(),
            value: "<redacted>".to_string(),
            reason: "must not embed a user name or password",
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(unsupported("must not carry a query or fragment"));
    }
    if url.host().is_none() {
        return Err(unsupported("has no host"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(EndpointError::PlainHttp {
            setting: setting.to_string(),
            value: value.to_string(),
        }),
        _ => Err(unsupported("must use https (or http on loopback)")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn env(pairs: &[(&str, &str)]) -> EnvVars {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn every_cloud_has_https_hosts() {
        for cloud in [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod] {
            let e = Endpoints::for_cloud(cloud);
            for a in Audience::ALL {
                assert_eq!(e.base(a).scheme(), "https", "{cloud} {a}");
                assert!(e.resource(a).starts_with("https://"));
            }
        }
    }

    #[test]
    fn gov_clouds_move_login_and_graph_together() {
        let high = Endpoints::for_cloud(Cloud::GccHigh);
        assert_eq!(high.login.as_str(), "https://login.microsoftonline.us/");
        assert_eq!(high.graph.as_str(), "https://graph.microsoft.us/");
        assert_eq!(
            high.default_scope(Audience::Defender),
            "https://api-gov.security.microsoft.us/.default"
        );
        let dod = Endpoints::for_cloud(Cloud::Dod);
        assert_eq!(dod.graph.as_str(), "https://dod-graph.microsoft.us/");
        let gcc = Endpoints::for_cloud(Cloud::Gcc);
        assert_eq!(gcc.login.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(
            gcc.defender.as_str(),
            "https://api-gcc.security.microsoft.us/"
        );
    }

    #[test]
    fn commercial_mde_host_and_resource_differ() {
        let e = Endpoints::for_cloud(Cloud::Commercial);
        assert_eq!(e.endpoint.host_str(), Some("api.security.microsoft.com"));
        assert_eq!(
            e.default_scope(Audience::Endpoint),
            "https://api.securitycenter.microsoft.com/.default"
        );
    }

    #[test]
    fn cloud_names_parse_leniently() {
        assert_eq!("GCC-High".parse::<Cloud>(), Ok(Cloud::GccHigh));
        assert_eq!("dod".parse::<Cloud>(), Ok(Cloud::Dod));
        let err = "china".parse::<Cloud>().err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("expected one of"));
    }

    #[test]
    fn overrides_move_hosts_but_not_resources() {
        let e = Endpoints::from_env(
            Cloud::Commercial,
            &env(&[
                (ENV_LOGIN_URL, "http://127.0.0.1:8400"),
                (ENV_API_URL, "http://localhost:8401/"),
                (ENV_GRAPH_URL, "http://[::1]:8402"),
            ]),
        );
        let e = e.unwrap();
        assert_eq!(
            e.token_url("contoso.example").as_str(),
            "http://127.0.0.1:8400/contoso.example/oauth2/v2.0/token"
        );
        assert_eq!(
            e.join(Audience::Defender, "/api/incidents"),
            "http://localhost:8401/api/incidents"
        );
        assert_eq!(
            e.join(Audience::Endpoint, "/api/machines"),
            "http://localhost:8401/api/machines"
        );
        assert_eq!(
            e.join(Audience::Graph, "/v1.0/security/incidents"),
            "http://[::1]:8402/v1.0/security/incidents"
        );
        assert_eq!(
            e.default_scope(Audience::Defender),
            "https://api.security.microsoft.com/.default"
        );
    }

    #[test]
    fn endpoint_url_overrides_api_url_for_mde_only() {
        let e = Endpoints::from_env(
            Cloud::Commercial,
            &env(&[
                (ENV_API_URL, "https://a.example"),
                (ENV_ENDPOINT_URL, "https://b.example/prefix/"),
                (
                    ENV_ENDPOINT_RESOURCE,
                    "https://securitycenter.onmicrosoft.com/windowsatpservice/",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(e.defender.host_str(), Some("a.example"));
        assert_eq!(
            e.join(Audience::Endpoint, "/api/machines"),
            "https://b.example/prefix/api/machines"
        );
        assert_eq!(
            e.default_scope(Audience::Endpoint),
            "https://securitycenter.onmicrosoft.com/windowsatpservice/.default"
        );
    }

    #[test]
    fn plain_http_refused_off_loopback() {
        for bad in [
            "http://login.example.com",
            "http://10.0.0.1:8400",
            "http://127.example",
        ] {
            let err = Endpoints::from_env(Cloud::Commercial, &env(&[(ENV_LOGIN_URL, bad)]));
            let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains("HUNTBOOK_LOGIN_URL"), "{msg}");
            assert!(msg.contains("plain http"), "{msg}");
        }
        for good in ["http://127.0.0.2:1", "http://LOCALHOST:9", "http://[::1]/"] {
            assert!(
                Endpoints::from_env(Cloud::Commercial, &env(&[(ENV_GRAPH_URL, good)])).is_ok(),
                "{good}"
            );
        }
    }

    #[test]
    fn odd_urls_refused_without_echoing_credentials() {
        let err = parse_base_url("X", "https://user:hunter2@login.example").err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("user name or password"));
        assert!(!msg.contains("hunter2"));
        assert!(parse_base_url("X", "ftp://a.example").is_err());
        assert!(parse_base_url("X", "https://a.example/?q=1").is_err());
        assert!(parse_base_url("X", "not a url").is_err());
    }

    #[test]
    fn tenant_is_one_path_segment() {
        let e = Endpoints::for_cloud(Cloud::Commercial);
        let url = e.token_url("a/b?c");
        assert_eq!(
            url.as_str(),
            "https://login.microsoftonline.com/a%2Fb%3Fc/oauth2/v2.0/token"
        );
    }
}
