//! loom models: every interleaving of the threads below is explored (gate `loom`, built with
//! `--cfg loom`, where the crate's primitives are loom's).
#![cfg(loom)]

use gatehouse_sync::{Flag, OnceMap};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// What the raising thread wrote before `raise` is seen by any thread that sees the flag raised
/// (the app records why it drains; xtask's gates read the run's state after a cancel).
#[test]
fn a_raised_flag_publishes_what_came_before_it() {
    loom::model(|| {
        let flag = Flag::default();
        let note = Arc::new(AtomicUsize::new(0));
        let raiser = {
            let (flag, note) = (flag.clone(), note.clone());
            thread::spawn(move || {
                note.store(7, Ordering::Relaxed);
                flag.raise();
            })
        };
        if flag.is_raised() {
            assert_eq!(note.load(Ordering::Relaxed), 7);
        }
        raiser.join().unwrap();
        assert!(flag.is_raised());
    });
}

/// Two gates provisioning the same tool at once: one install, both get its result.
#[test]
fn two_callers_initialise_a_key_once() {
    loom::model(|| {
        let map: Arc<OnceMap<u8, usize>> = Arc::new(OnceMap::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let call = |map: Arc<OnceMap<u8, usize>>, runs: Arc<AtomicUsize>| {
            map.get_or_try_init(&1, || {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(42)
            })
        };
        let other = {
            let (map, runs) = (map.clone(), runs.clone());
            thread::spawn(move || call(map, runs))
        };
        let mine = call(map.clone(), runs.clone());
        let theirs = other.join().unwrap();
        assert_eq!((mine, theirs), (Ok(42), Ok(42)));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    });
}

/// A failed initialisation on one thread does not poison the key for the other.
#[test]
fn a_failure_on_one_thread_leaves_the_key_to_the_other() {
    loom::model(|| {
        let map: Arc<OnceMap<u8, usize>> = Arc::new(OnceMap::default());
        let failing = {
            let map = map.clone();
            thread::spawn(move || map.get_or_try_init(&1, || Err("offline")))
        };
        let mine = map.get_or_try_init(&1, || Ok::<_, &str>(5));
        let theirs = failing.join().unwrap();
        assert_eq!(mine, Ok(5));
        assert!(theirs == Ok(5) || theirs == Err("offline"));
        assert_eq!(map.get(&1), Some(5));
    });
}
