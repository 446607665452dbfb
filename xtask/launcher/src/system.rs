//! Small network helpers shared by the components; processes are gatehouse-process's.

use std::net::TcpListener;

use anyhow::{Context, Result};

pub use gatehouse_process::{alive, parent_of, process_table, stop, wait_until};

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}
