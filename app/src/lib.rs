//! The reference service: configuration, routes and start-up, separated from `main` so tests can spawn it.

pub mod config;
pub mod ops;
pub mod startup;
