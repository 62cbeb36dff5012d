//! Unit tests of `expect`.
use super::*;
