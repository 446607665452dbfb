//! A throwaway PostgreSQL for benchmarks, from the same launcher as the tests: `tls` (default;
//! the server requires TLS, the URL asks for `sslmode=verify-full`) or `plain` (no TLS).
//! Prints `APP_DATABASE_URL=…` for database `app`, then runs until SIGTERM or Ctrl-C, when the
//! server is stopped and its directory deleted.
//! `cargo run --release -p app --example ephemeral_postgres -- plain`

use anyhow::bail;
use launcher::Postgres;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let pg = match std::env::args().nth(1).as_deref() {
        None | Some("tls") => Postgres::ephemeral()?,
        Some("plain") => Postgres::ephemeral_plain()?,
        Some(other) => bail!("`{other}`: expected `tls` or `plain`"),
    };
    pg.create_database("app")?;
    println!("APP_DATABASE_URL={}", pg.url("app"));
    app::shutdown::signal().await;
    Ok(())
}
