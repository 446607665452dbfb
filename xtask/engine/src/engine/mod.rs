//! The gate engine: declarations, graph, scheduler, cache, reports and progress output.

pub mod cache;
pub mod dag;
pub mod gate;
pub mod output;
pub mod report;
pub mod runner;
pub mod scheduler;

pub use crate::layout::cargo_target_dir;
