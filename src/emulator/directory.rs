//! The identity platform's registrations: applications (with their credentials and granted
//! application permissions) and users (with passwords and delegated scopes). Defaults are
//! generated at start; a `--data` file may replace them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The three APIs huntbook talks to, as token audiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// Microsoft Graph, `https://graph.microsoft.com`.
    Graph,
    /// Defender XDR ("Microsoft Threat Protection"), `https://api.security.microsoft.com`.
    Defender,
    /// Defender for Endpoint ("WindowsDefenderATP"), `https://api.securitycenter.microsoft.com`.
    Endpoint,
}

/// A registered application.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Display name, e.g. `huntbook-demo`.
    pub name: String,
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Client secret, for confidential clients using secrets.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Whether the app authenticates with a certificate the emulator generates at start.
    #[serde(default)]
    pub certificate: bool,
    /// A public client (device code / password flows; no credential allowed).
    #[serde(default)]
    pub public_client: bool,
    /// Granted application permissions (`roles`) per resource.
    #[serde(default)]
    pub roles: BTreeMap<Resource, Vec<String>>,
}

/// A registered user (for delegated flows).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// UPN, e.g. `analyst@contoso.example`.
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Delegated permissions (`scp`) the user has consented to, per resource.
    #[serde(default)]
    pub scopes: BTreeMap<Resource, Vec<String>>,
    /// A disabled account (AADSTS50057).
    #[serde(default)]
    pub disabled: bool,
    /// The account requires MFA, so ROPC fails (AADSTS50076).
    #[serde(default)]
    pub mfa_required: bool,
}
