//! Real local components started without Docker: one copy of this code serves xtask
//! (`cargo xtask dev up`, data and release gates) and the app's integration tests.

mod http;
mod nginx;
mod postgres;
mod system;
mod tls;

pub use gatehouse_process::Service;
pub use http::{
    Listen, Loopback, Scrape, http_header, http_status, https_header, https_status, moto,
    prometheus, registry, registry_with,
};
pub use nginx::{Nginx, UPSTREAM_HEADER};
pub use postgres::{Postgres, PostgresState, Transport};
pub use system::{alive, free_port, parent_of, process_table, stop, wait_until};
pub use tls::{Ca, LOOPBACK_NAMES, Leaf, Validity, https_get, https_stub, write_private};
