//! Who is calling an API: decoded from a validated access token by the request gate and handed
//! to route handlers as an axum `Extension<Principal>`.

/// The authenticated caller of an API route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    /// The client application id (`appid` / `azp`).
    pub app_id: String,
    /// The app's display name (for `requestor` fields of application callers).
    pub app_name: String,
    /// The object id of the user or service principal (`oid`).
    pub object_id: String,
    /// The signed-in user's UPN for delegated tokens; `None` for application tokens.
    pub user: Option<String>,
    /// `roles` (application) or the split `scp` (delegated) of the token.
    pub permissions: Vec<String>,
}

impl Principal {
    /// How the service names the caller in `requestor`, `createdBy`, `assignedTo`-style fields:
    /// the user's UPN, or the application's display name.
    #[must_use]
    pub fn display_name(&self) -> &str {
        self.user.as_deref().unwrap_or(&self.app_name)
    }

    /// Whether the token carries any of these permissions.
    #[must_use]
    pub fn has_any(&self, perms: &[&str]) -> bool {
        perms
            .iter()
            .any(|p| self.permissions.iter().any(|q| q == p))
    }
}
