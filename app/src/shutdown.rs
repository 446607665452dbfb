//! Graceful drain: on SIGTERM readiness turns 503 at once, the server keeps serving for the drain
//! period, then stops accepting and gives in-flight requests until the deadline.

use gatehouse_sync::Flag;

/// Shared by `/readyz` and the shutdown sequence (a latch modelled by loom in gatehouse-sync).
#[derive(Clone, Debug, Default)]
pub struct Drain {
    draining: Flag,
}

impl Drain {
    pub fn start(&self) {
        self.draining.raise();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.is_raised()
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async move {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
