//! The service's integration tests: the real router on port 0 against a real, fresh PostgreSQL.

mod helpers;
mod ops;
