//! The service's integration tests: the real router on port 0 against a real, fresh PostgreSQL
//! (and, in `process` and `tls`, the real binary).

mod admin;
mod auth;
mod contract;
mod helpers;
mod ops;
mod process;
mod security;
mod tasks;
mod tls;
