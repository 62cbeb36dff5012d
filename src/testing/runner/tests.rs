//! Unit tests of `runner`.
use super::*;
