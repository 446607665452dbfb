//! A one-way latch shared between threads: lowered until `raise`, raised for good after.
//! The app's drain state (`/readyz` turns 503) and xtask's cancellation (Ctrl-C) are flags.

use std::sync::atomic::Ordering;

use crate::{Arc, AtomicBool};

/// Cloning shares the latch. Whatever a thread did before `raise` is visible to a thread that
/// has seen `is_raised() == true` (release/acquire).
#[derive(Clone, Debug)]
pub struct Flag(Arc<AtomicBool>);

impl Default for Flag {
    fn default() -> Flag {
        Flag(Arc::new(AtomicBool::new(false)))
    }
}

impl Flag {
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_latch_that_stays_raised() {
        let flag = Flag::default();
        let seen_by = flag.clone();
        assert!(!seen_by.is_raised());
        flag.raise();
        flag.raise();
        assert!(seen_by.is_raised());
    }

    #[test]
    fn a_raise_on_one_thread_is_seen_on_others() {
        let flag = Flag::default();
        let watchers: Vec<_> = (0..4)
            .map(|_| {
                let flag = flag.clone();
                std::thread::spawn(move || {
                    while !flag.is_raised() {
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        flag.raise();
        for w in watchers {
            w.join().unwrap();
        }
    }
}
