//! The identity platform's registrations: applications (with their credentials and granted
//! application permissions) and users (with passwords and delegated scopes). Defaults are
//! generated at start; a `--data` file may replace them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{ApiFamily, EmuError};
use super::rng::Rng;
use super::world::TENANT_DOMAIN;

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

impl Resource {
    /// Every resource, in a stable order.
    pub const ALL: [Resource; 3] = [Resource::Graph, Resource::Defender, Resource::Endpoint];

    /// The canonical application ID URI, used in `scope=<uri>/.default`.
    #[must_use]
    pub fn uri(self) -> &'static str {
        match self {
            Resource::Graph => "https://graph.microsoft.com",
            Resource::Defender => "https://api.security.microsoft.com",
            Resource::Endpoint => "https://api.securitycenter.microsoft.com",
        }
    }

    /// The first-party application (client) id of the resource.
    #[must_use]
    pub fn app_id(self) -> &'static str {
        match self {
            Resource::Graph => "00000003-0000-0000-c000-000000000000",
            Resource::Defender => "8ee8fdad-f234-4243-8f3b-15c294843740",
            Resource::Endpoint => "fc780465-2017-40d4-a0c5-307022471b92",
        }
    }

    /// The resource's display name in the directory (as in AADSTS500011 messages).
    #[must_use]
    pub fn display_name(self) -> &'static str {
        match self {
            Resource::Graph => "Microsoft Graph",
            Resource::Defender => "Microsoft Threat Protection",
            Resource::Endpoint => "WindowsDefenderATP",
        }
    }

    /// Every identifier a client may use for the resource in `scope`/`resource`, and that an
    /// access token may carry as `aud`. Defender for Endpoint has several, for historical reasons
    /// (defender-api.md §1.3).
    #[must_use]
    pub fn identifiers(self) -> &'static [&'static str] {
        match self {
            Resource::Graph => &[
                "https://graph.microsoft.com",
                "00000003-0000-0000-c000-000000000000",
            ],
            Resource::Defender => &[
                "https://api.security.microsoft.com",
                "8ee8fdad-f234-4243-8f3b-15c294843740",
            ],
            Resource::Endpoint => &[
                "https://api.securitycenter.microsoft.com",
                "fc780465-2017-40d4-a0c5-307022471b92",
                "https://securitycenter.onmicrosoft.com/windowsatpservice",
                "https://api.securitycenter.windows.com",
            ],
        }
    }

    /// The resource an identifier names, and the identifier in its canonical spelling.
    /// Matching ignores ASCII case and trailing slashes, as the identity platform does.
    #[must_use]
    pub fn from_identifier(id: &str) -> Option<(Resource, &'static str)> {
        let id = id.trim_end_matches('/');
        Resource::ALL.into_iter().find_map(|r| {
            r.identifiers()
                .iter()
                .find(|known| known.eq_ignore_ascii_case(id))
                .map(|known| (r, *known))
        })
    }

    /// The API family a token for this resource is meant for.
    #[must_use]
    pub fn family(self) -> ApiFamily {
        match self {
            Resource::Graph => ApiFamily::Graph,
            Resource::Defender => ApiFamily::Defender,
            Resource::Endpoint => ApiFamily::Endpoint,
        }
    }

    /// The resource whose tokens an API family accepts.
    #[must_use]
    pub fn of_family(family: ApiFamily) -> Resource {
        match family {
            ApiFamily::Graph => Resource::Graph,
            ApiFamily::Defender => Resource::Defender,
            ApiFamily::Endpoint => Resource::Endpoint,
        }
    }

    /// Lower-case name, as used in the startup JSON and in data files.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Resource::Graph => "graph",
            Resource::Defender => "defender",
            Resource::Endpoint => "endpoint",
        }
    }
}

/// A registered application.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
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

// Hand-written so that a secret never reaches a log line through `{:?}`.
impl fmt::Debug for AppSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppSpec")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("certificate", &self.certificate)
            .field("public_client", &self.public_client)
            .field("roles", &self.roles)
            .finish()
    }
}

/// A registered user (for delegated flows).
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// UPN, e.g. `analyst@contoso.example`.
    pub username: String,
    /// The password the password (ROPC) flow checks.
    pub password: String,
    /// Display name (the `name` claim); defaults to the UPN's local part.
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

impl fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSpec")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("display_name", &self.display_name)
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .field("mfa_required", &self.mfa_required)
            .finish()
    }
}

impl UserSpec {
    /// The `name` claim: the display name, or the UPN's local part.
    #[must_use]
    pub fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .unwrap_or_else(|| self.username.split('@').next().unwrap_or(&self.username))
    }
}

/// Name of the default app with every permission huntbook uses.
pub const DEMO_APP: &str = "huntbook-demo";
/// Name of the default app with read permissions only.
pub const READONLY_APP: &str = "huntbook-readonly";
/// Name of the default app that authenticates with a certificate.
pub const CERT_APP: &str = "huntbook-cert";
/// Name of the default public client (device code and password flows).
pub const PUBLIC_APP: &str = "huntbook-cli";
/// UPN of the default user.
pub const DEFAULT_USER: &str = "analyst@contoso.example";

/// The tenant's registrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Directory {
    /// Seeds the object ids of service principals and users.
    pub seed: u64,
    pub apps: Vec<AppSpec>,
    pub users: Vec<UserSpec>,
}

fn roles(graph: &[&str], defender: &[&str], endpoint: &[&str]) -> BTreeMap<Resource, Vec<String>> {
    let own = |list: &[&str]| list.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    BTreeMap::from([
        (Resource::Graph, own(graph)),
        (Resource::Defender, own(defender)),
        (Resource::Endpoint, own(endpoint)),
    ])
}

/// Every application permission huntbook's step kinds use, per resource (defender-api.md §2).
#[must_use]
pub fn full_roles() -> BTreeMap<Resource, Vec<String>> {
    roles(
        &[
            "ThreatHunting.Read.All",
            "SecurityIncident.ReadWrite.All",
            "SecurityAlert.ReadWrite.All",
        ],
        &["AdvancedHunting.Read.All", "Incident.ReadWrite.All"],
        &[
            "Machine.Read.All",
            "Machine.ReadWrite.All",
            "Machine.Isolate",
            "Machine.Scan",
            "Machine.CollectForensics",
            "Machine.RestrictExecution",
            "Machine.StopAndQuarantine",
            "AdvancedQuery.Read.All",
            "Alert.Read.All",
            "Alert.ReadWrite.All",
            "Ti.ReadWrite.All",
        ],
    )
}

/// The read permissions of [`full_roles`]: hunting and reading incidents, alerts and machines.
#[must_use]
pub fn read_roles() -> BTreeMap<Resource, Vec<String>> {
    roles(
        &[
            "ThreatHunting.Read.All",
            "SecurityIncident.Read.All",
            "SecurityAlert.Read.All",
        ],
        &["AdvancedHunting.Read.All", "Incident.Read.All"],
        &[
            "Machine.Read.All",
            "AdvancedQuery.Read.All",
            "Alert.Read.All",
        ],
    )
}

/// The delegated scopes of the default user.
#[must_use]
pub fn analyst_scopes() -> BTreeMap<Resource, Vec<String>> {
    roles(
        &[
            "ThreatHunting.Read.All",
            "SecurityIncident.ReadWrite.All",
            "SecurityAlert.Read.All",
        ],
        &["Incident.ReadWrite", "AdvancedHunting.Read"],
        &[
            "Machine.Read",
            "Machine.Isolate",
            "Machine.Scan",
            "AdvancedQuery.Read",
        ],
    )
}

/// A client secret shaped like the ones Entra issues (40 characters, the third to fifth being
/// `8Q~`), so clients exercise URL-encoding of `~` and `.` against the emulator too.
fn secret(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~";
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(CHARS[rng.below(CHARS.len() as u64) as usize]))
            .collect()
    };
    let head = pick(3);
    let tail = pick(34);
    format!("{head}8Q~{tail}")
}

fn password(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let body: String = (0..14)
        .map(|_| char::from(CHARS[rng.below(CHARS.len() as u64) as usize]))
        .collect();
    // A digit and a symbol keep it looking like a real policy-compliant password.
    format!("{body}!{}", rng.below(10))
}

impl Directory {
    /// The default registrations for `seed`: ids, secrets and the password are deterministic
    /// per seed (like a well-known development key), so a script can rely on them between
    /// starts; the certificate app's key is generated fresh at every start.
    #[must_use]
    pub fn defaults(seed: u64) -> Directory {
        let mut rng = Rng::new(seed, "directory");
        let demo = AppSpec {
            name: DEMO_APP.to_string(),
            client_id: rng.guid(),
            client_secret: Some(secret(&mut rng)),
            certificate: false,
            public_client: false,
            roles: full_roles(),
        };
        let readonly = AppSpec {
            name: READONLY_APP.to_string(),
            client_id: rng.guid(),
            client_secret: Some(secret(&mut rng)),
            certificate: false,
            public_client: false,
            roles: read_roles(),
        };
        let cert = AppSpec {
            name: CERT_APP.to_string(),
            client_id: rng.guid(),
            client_secret: None,
            certificate: true,
            public_client: false,
            roles: full_roles(),
        };
        let public = AppSpec {
            name: PUBLIC_APP.to_string(),
            client_id: rng.guid(),
            client_secret: None,
            certificate: false,
            public_client: true,
            roles: BTreeMap::new(),
        };
        let analyst = UserSpec {
            username: DEFAULT_USER.to_string(),
            password: password(&mut rng),
            display_name: Some("SOC Analyst".to_string()),
            scopes: analyst_scopes(),
            disabled: false,
            mfa_required: false,
        };
        Directory {
            seed,
            apps: vec![demo, readonly, cert, public],
            users: vec![analyst],
        }
    }

    /// The defaults, with the apps and/or users of a data file replacing them where given.
    ///
    /// # Errors
    /// When the given registrations are inconsistent (see [`Directory::validate`]).
    pub fn with_overrides(
        seed: u64,
        apps: Option<&[AppSpec]>,
        users: Option<&[UserSpec]>,
    ) -> Result<Directory, EmuError> {
        let mut dir = Directory::defaults(seed);
        if let Some(apps) = apps {
            dir.apps = apps.to_vec();
        }
        if let Some(users) = users {
            dir.users = users.to_vec();
        }
        dir.validate()?;
        Ok(dir)
    }

    /// Check that registrations make sense: GUID client ids, no duplicates, exactly the
    /// credentials each kind of client may hold, and users named by UPN.
    ///
    /// # Errors
    /// [`EmuError::Data`] naming the first problem found.
    pub fn validate(&self) -> Result<(), EmuError> {
        let mut ids = BTreeSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            let at = format!("apps[{i}] (`{}`)", app.name);
            if app.name.trim().is_empty() {
                return Err(EmuError::Data(format!("apps[{i}]: `name` is empty")));
            }
            if !is_guid(&app.client_id) {
                return Err(EmuError::Data(format!(
                    "{at}: client_id `{}` is not a GUID (e.g. 11111111-2222-3333-4444-555555555555)",
                    app.client_id
                )));
            }
            if !ids.insert(app.client_id.to_ascii_lowercase()) {
                return Err(EmuError::Data(format!(
                    "{at}: client_id `{}` is registered twice",
                    app.client_id
                )));
            }
            let has_credential = app.client_secret.is_some() || app.certificate;
            if app.public_client && has_credential {
                return Err(EmuError::Data(format!(
                    "{at}: a public client cannot have a client_secret or a certificate"
                )));
            }
            if !app.public_client && !has_credential {
                return Err(EmuError::Data(format!(
                    "{at}: a confidential client needs a client_secret or `certificate: true` \
                     (or set `public_client: true`)"
                )));
            }
            if app.client_secret.as_deref().is_some_and(str::is_empty) {
                return Err(EmuError::Data(format!("{at}: client_secret is empty")));
            }
        }
        let mut names = BTreeSet::new();
        for (i, user) in self.users.iter().enumerate() {
            let at = format!("users[{i}] (`{}`)", user.username);
            let Some((local, domain)) = user.username.split_once('@') else {
                return Err(EmuError::Data(format!(
                    "{at}: username must be a UPN like analyst@{TENANT_DOMAIN}"
                )));
            };
            if local.is_empty() || domain.is_empty() {
                return Err(EmuError::Data(format!(
                    "{at}: username must be a UPN like analyst@{TENANT_DOMAIN}"
                )));
            }
            if !names.insert(user.username.to_ascii_lowercase()) {
                return Err(EmuError::Data(format!(
                    "{at}: username is registered twice"
                )));
            }
            if user.password.is_empty() {
                return Err(EmuError::Data(format!("{at}: password is empty")));
            }
        }
        Ok(())
    }

    /// The app with this client id (GUIDs compare case-insensitively).
    #[must_use]
    pub fn app(&self, client_id: &str) -> Option<&AppSpec> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The app with this display name.
    #[must_use]
    pub fn app_named(&self, name: &str) -> Option<&AppSpec> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The user with this UPN (case-insensitive, as sign-in names are).
    #[must_use]
    pub fn user(&self, username: &str) -> Option<&UserSpec> {
        self.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
    }

    /// The object id of an app's service principal in this tenant (the `oid` of app tokens).
    #[must_use]
    pub fn app_object_id(&self, app: &AppSpec) -> String {
        Rng::new(
            self.seed,
            &format!("sp:{}", app.client_id.to_ascii_lowercase()),
        )
        .guid()
    }

    /// The object id of a user (the `oid` of delegated tokens).
    #[must_use]
    pub fn user_object_id(&self, user: &UserSpec) -> String {
        Rng::new(
            self.seed,
            &format!("user:{}", user.username.to_ascii_lowercase()),
        )
        .guid()
    }
}

/// Whether `s` is a GUID in the 8-4-4-4-12 hex form.
#[must_use]
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_deterministic_per_seed_and_valid() {
        let a = Directory::defaults(7);
        assert_eq!(a, Directory::defaults(7));
        assert_ne!(
            a.apps[0].client_id,
            Directory::defaults(8).apps[0].client_id
        );
        assert!(a.validate().is_ok());
        let demo = a.app_named(DEMO_APP).map(|x| x.client_secret.clone());
        let secret = demo.flatten().unwrap_or_default();
        assert_eq!(secret.len(), 40);
        assert_eq!(&secret[3..6], "8Q~");
    }

    #[test]
    fn readonly_app_cannot_isolate_but_demo_can() {
        let d = Directory::defaults(1);
        let ro = d
            .app_named(READONLY_APP)
            .map(|a| a.roles[&Resource::Endpoint].clone());
        assert!(
            !ro.unwrap_or_default()
                .iter()
                .any(|r| r == "Machine.Isolate")
        );
        let demo = d
            .app_named(DEMO_APP)
            .map(|a| a.roles[&Resource::Endpoint].clone());
        assert!(
            demo.unwrap_or_default()
                .iter()
                .any(|r| r == "Machine.Isolate")
        );
    }

    #[test]
    fn identifiers_resolve_case_and_slash_insensitively() {
        assert_eq!(
            Resource::from_identifier("HTTPS://graph.microsoft.com/"),
            Some((Resource::Graph, "https://graph.microsoft.com"))
        );
        assert_eq!(
            Resource::from_identifier("https://securitycenter.onmicrosoft.com/windowsatpservice")
                .map(|r| r.0),
            Some(Resource::Endpoint)
        );
        assert_eq!(Resource::from_identifier("https://vault.azure.net"), None);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let d = Directory::defaults(1);
        let text = format!("{d:?}");
        for app in &d.apps {
            if let Some(s) = &app.client_secret {
                assert!(!text.contains(s.as_str()));
            }
        }
        assert!(!text.contains(d.users[0].password.as_str()));
        assert!(text.contains("[REDACTED]"));
    }

    #[test]
    fn validation_names_the_bad_registration() {
        let mut d = Directory::defaults(1);
        d.apps[1].client_id = "not-a-guid".into();
        let err = d
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("apps[1]") && err.contains("not a GUID"),
            "{err}"
        );

        let mut d = Directory::defaults(1);
        d.apps[3].client_secret = Some("x".into());
        let err = d
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("public client"), "{err}");

        let mut d = Directory::defaults(1);
        d.users[0].username = "analyst".into();
        let err = d
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("UPN"), "{err}");
    }

    #[test]
    fn object_ids_are_stable() {
        let d = Directory::defaults(3);
        let app = &d.apps[0];
        assert_eq!(d.app_object_id(app), d.app_object_id(app));
        assert!(is_guid(&d.app_object_id(app)));
        assert_ne!(d.app_object_id(app), d.user_object_id(&d.users[0]));
    }
}
