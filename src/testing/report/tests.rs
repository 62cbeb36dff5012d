//! Unit tests of `report`.
use super::*;
