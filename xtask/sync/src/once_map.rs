//! Per-key initialisation that runs once, however many threads ask at the same time: xtask's
//! tool provisioning (probe, else install) behind concurrent gates.

use std::collections::BTreeMap;

use crate::Mutex;

/// A finished value is returned without waiting; a missing one is made by exactly one caller
/// while the others wait for it. A failed initialisation is not stored: the next caller retries.
#[derive(Debug)]
pub struct OnceMap<K, V> {
    done: Mutex<BTreeMap<K, V>>,
    /// Held while a value is being made; never while `done` is held.
    making: Mutex<()>,
}

impl<K: Ord + Clone, V: Clone> Default for OnceMap<K, V> {
    fn default() -> OnceMap<K, V> {
        OnceMap {
            done: Mutex::new(BTreeMap::new()),
            making: Mutex::new(()),
        }
    }
}

impl<K: Ord + Clone, V: Clone> OnceMap<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        done.get(key).cloned()
    }

    /// The value for `key`, made by `init` if no caller has made it yet.
    pub fn get_or_try_init<E>(&self, key: &K, init: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let _making = self.making.lock().unwrap_or_else(|p| p.into_inner());
        // Another caller may have made it while this one waited.
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let value = init()?;
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        done.insert(key.clone(), value.clone());
        Ok(value)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn concurrent_callers_share_one_initialisation() {
        let map: OnceMap<&str, usize> = OnceMap::default();
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let v = map.get_or_try_init(&"tool", || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(42)
                    });
                    assert_eq!(v, Ok(42));
                });
            }
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_initialisation_is_retried() {
        let map: OnceMap<&str, usize> = OnceMap::default();
        assert_eq!(
            map.get_or_try_init(&"tool", || Err("offline")),
            Err("offline")
        );
        assert_eq!(map.get(&"tool"), None);
        assert_eq!(map.get_or_try_init(&"tool", || Ok::<_, &str>(7)), Ok(7));
        assert_eq!(map.get_or_try_init(&"tool", || Err("not called")), Ok(7));
    }
}
