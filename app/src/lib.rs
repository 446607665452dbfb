//! The reference service: configuration, routes and start-up, separated from `main` so tests can spawn it.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod build_info;
pub mod config;
pub mod database;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod seed;
pub mod shutdown;
pub mod startup;
pub mod tasks;
pub mod telemetry;
