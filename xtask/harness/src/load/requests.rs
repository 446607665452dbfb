//! gatehouse's own load, for a service without a goose load test (`[load] paths`): users that
//! `GET` the paths in turn, each waiting for its answer, counting what failed (a 5xx or no
//! answer). The server side is judged as with goose, from Prometheus and the SLO rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

/// What the users saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub failed: u64,
}

impl Counts {
    /// Why the client side fails: more failed than `budget` (a ratio) allows, or nothing ran.
    pub fn problem(self, budget: f64) -> Option<String> {
        if self.requests == 0 {
            return Some("client side: gatehouse's requests got no answer at all".to_owned());
        }
        #[expect(
            clippy::cast_precision_loss,
            reason = "request counts are far below 2^52"
        )]
        let ratio = self.failed as f64 / self.requests as f64;
        (ratio > budget).then(|| {
            format!(
                "client side: {} of {} requests failed (5xx or no answer), {:.2}% over a budget of {:.2}%",
                self.failed,
                self.requests,
                ratio * 100.0,
                budget * 100.0
            )
        })
    }
}

#[derive(Debug, Default)]
struct Tally {
    requests: AtomicU64,
    failed: AtomicU64,
}

/// Users running until `run_for` has passed or [`Requests::stop`].
#[derive(Debug)]
pub struct Requests {
    stop: Arc<AtomicBool>,
    users: Vec<JoinHandle<()>>,
    tally: Arc<Tally>,
}

impl Requests {
    /// Starts `users` users against `base` (HTTPS through the configured trust, or HTTP).
    pub fn start(base: &str, paths: &[String], users: u32, run_for: Duration) -> Result<Requests> {
        let client = crate::http::Trust::configured()
            .blocking(Duration::from_secs(10))
            .context("gatehouse's load: cannot build its HTTP client")?;
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let deadline = Instant::now() + run_for;
        let urls: Arc<Vec<String>> = Arc::new(
            paths
                .iter()
                .map(|p| format!("{}{p}", base.trim_end_matches('/')))
                .collect(),
        );
        let users = (0..users.max(1))
            .map(|user| {
                let (client, stop, tally, urls) =
                    (client.clone(), stop.clone(), tally.clone(), urls.clone());
                std::thread::spawn(move || {
                    let mut next = user as usize;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let url = &urls[next % urls.len()];
                        next += 1;
                        let failed = client
                            .get(url)
                            .send()
                            .map_or(true, |r| r.status().is_server_error());
                        tally.requests.fetch_add(1, Ordering::Relaxed);
                        if failed {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Ok(Requests { stop, users, tally })
    }

    /// Whether every user has run out of time.
    pub fn finished(&self) -> bool {
        self.users.iter().all(JoinHandle::is_finished)
    }

    /// Waits for every user to run out of time, and counts.
    pub fn wait(mut self) -> Counts {
        self.join()
    }

    /// Stops the users, waits for their last answers, and counts.
    pub fn stop(&mut self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    fn join(&mut self) -> Counts {
        for user in self.users.drain(..) {
            // A user that panicked has counted what it saw; the count is what is judged.
            user.join().ok();
        }
        Counts {
            requests: self.tally.requests.load(Ordering::Relaxed),
            failed: self.tally.failed.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Requests {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn the_client_side_fails_over_the_budget_or_with_no_answer() {
        let ok = Counts {
            requests: 1000,
            failed: 1,
        };
        assert_eq!(ok.problem(0.001), None);
        let over = Counts {
            requests: 1000,
            failed: 2,
        };
        assert!(over.problem(0.001).unwrap().contains("2 of 1000"));
        assert!(
            Counts::default()
                .problem(0.5)
                .unwrap()
                .contains("no answer")
        );
    }
}
