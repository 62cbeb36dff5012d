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

impl Principal {
    /// Authorise a route: `Ok` when the token carries any of `any_of` (application roles and
    /// delegated scopes may be listed together), else 403 in the family's error shape, worded as
    /// the service words it.
    ///
    /// # Errors
    /// 403 `Forbidden` when none of the permissions is present.
    pub fn require(
        &self,
        family: super::ApiFamily,
        any_of: &[&str],
    ) -> Result<(), super::ApiError> {
        if self.has_any(any_of) {
            return Ok(());
        }
        let wanted = any_of.join(", ");
        let message = match (family, self.user.is_some()) {
            (super::ApiFamily::Graph, false) => {
                format!("Missing application roles. API required roles: {wanted}.")
            }
            (super::ApiFamily::Graph, true) => {
                format!("Missing scope permissions on the request. API requires one of '{wanted}'.")
            }
            (_, false) => format!(
                "The application does not have any of the required application permissions ({wanted}) to access the resource."
            ),
            (_, true) => format!(
                "The user does not have any of the required delegated permissions ({wanted}) to access the resource."
            ),
        };
        Err(super::ApiError::new(
            family,
            axum::http::StatusCode::FORBIDDEN,
            "Forbidden",
            message,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::ApiFamily;

    fn app(perms: &[&str]) -> Principal {
        Principal {
            tenant_id: "t".into(),
            app_id: "a".into(),
            app_name: "huntbook-demo".into(),
            object_id: "o".into(),
            user: None,
            permissions: perms.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    #[test]
    fn require_accepts_any_listed_permission() {
        let p = app(&["Machine.Read.All", "Machine.Isolate"]);
        assert!(p.require(ApiFamily::Endpoint, &["Machine.Isolate"]).is_ok());
        assert_eq!(p.display_name(), "huntbook-demo");
    }

    #[test]
    fn require_refuses_with_403_in_family_shape() {
        let p = app(&["Machine.Read.All"]);
        let err = p.require(ApiFamily::Endpoint, &["Machine.Isolate"]).err();
        let err = err.map(|e| (e.status.as_u16(), e.body()));
        let (status, body) = err.unwrap_or_default();
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "Forbidden");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("Machine.Isolate")
        );
    }
}
