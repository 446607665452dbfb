//! Real local components started without Docker: one copy of this code serves xtask
//! (`cargo xtask dev up`, data and release gates) and the app's integration tests.

mod http;
mod nginx;
mod postgres;
mod service;
mod system;

pub use http::{Loopback, http_header, http_status, moto, prometheus, registry};
pub use nginx::{Nginx, UPSTREAM_HEADER};
pub use postgres::{Postgres, PostgresState};
pub use service::Service;
pub use system::{alive, free_port, parent_of, process_table, stop, wait_until};
