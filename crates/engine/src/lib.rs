//! placeholder
pub mod names;
pub mod plan;
pub mod roles;
