//! Every piece of hand-written synchronisation in gatehouse lives in this crate, so that each
//! has a loom model (`tests/loom.rs`, gate `loom`), runs under ThreadSanitizer (gate `race`) and
//! under miri (gate `miri`). Everything else concurrent in the app and xtask is channels, a
//! runtime (tokio) or a third-party crate; `docs/gates.md` lists which.
//!
//! Under `--cfg loom` the primitives are loom's, so the models check this very code.

mod flag;
mod once_map;

pub use flag::Flag;
pub use once_map::OnceMap;

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, atomic::AtomicBool};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, atomic::AtomicBool};
