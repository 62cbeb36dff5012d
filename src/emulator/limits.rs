//! Rate limits per endpoint family, as documented (hunting 45/min, incidents 50/min and
//! 1,500/h, machine actions 100/min, …). (Skeleton.)

use std::str::FromStr;

use super::EmuError;

/// `--limits real|relaxed|SPEC`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsSpec {}

impl FromStr for LimitsSpec {
    type Err = EmuError;
    fn from_str(_s: &str) -> Result<LimitsSpec, EmuError> {
        Ok(LimitsSpec {})
    }
}

/// Counts calls per family and answers 429 past the budget.
#[derive(Debug)]
pub struct Limiter {}

impl Limiter {
    #[must_use]
    pub fn new(_spec: &LimitsSpec) -> Limiter {
        Limiter {}
    }
}
