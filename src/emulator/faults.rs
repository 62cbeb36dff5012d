//! Fault injection: by route and probability or by schedule — 429, 500, 503, connection reset,
//! slow response, truncated body, token revoked. (Skeleton.)

use std::str::FromStr;

use super::EmuError;

/// `--faults SPEC`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {}

impl FromStr for FaultSpec {
    type Err = EmuError;
    fn from_str(_s: &str) -> Result<FaultSpec, EmuError> {
        Ok(FaultSpec {})
    }
}

/// The live fault plan; tests may change it while the emulator runs.
#[derive(Debug)]
pub struct Faults {}

impl Faults {
    #[must_use]
    pub fn new(_spec: &FaultSpec, _seed: u64) -> Faults {
        Faults {}
    }
}
