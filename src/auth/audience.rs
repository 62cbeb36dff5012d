//! The three API audiences huntbook holds tokens for. A token minted for one is rejected by the
//! others, so every request names the audience it needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An API family and token audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Microsoft Graph (`/v1.0/security/…`), resource `https://graph.microsoft.com`.
    Graph,
    /// Defender XDR, the "Microsoft Threat Protection" app (`/api/incidents`,
    /// `/api/advancedhunting/run`), resource `https://api.security.microsoft.com`.
    Defender,
    /// Defender for Endpoint, the "WindowsDefenderATP" app (`/api/machines`, …), resource
    /// `https://api.securitycenter.microsoft.com`.
    Endpoint,
}

impl Audience {
    /// Every audience, in a fixed order (also the slot order of the token store).
    pub const ALL: [Audience; 3] = [Audience::Graph, Audience::Defender, Audience::Endpoint];

    /// The lowercase name used in playbooks (`api: graph`), logs and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Graph => "graph",
            Audience::Defender => "defender",
            Audience::Endpoint => "endpoint",
        }
    }

    /// Position in [`Audience::ALL`].
    #[must_use]
    pub(crate) fn index(self) -> usize {
        match self {
            Audience::Graph => 0,
            Audience::Defender => 1,
            Audience::Endpoint => 2,
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Audience {
    type Err = String;

    fn from_str(s: &str) -> Result<Audience, String> {
        match s.to_ascii_lowercase().as_str() {
            "graph" => Ok(Audience::Graph),
            "defender" => Ok(Audience::Defender),
            "endpoint" | "mde" => Ok(Audience::Endpoint),
            _ => Err(format!(
                "unknown API `{s}`: expected one of graph, defender, endpoint"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_indices_are_distinct() {
        for (i, a) in Audience::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
            assert_eq!(a.as_str().parse::<Audience>(), Ok(*a));
        }
        assert!("mdatp".parse::<Audience>().is_err());
    }
}
