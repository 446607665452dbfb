//! The gate engine: declarations, graph, scheduler, cache, reports and progress output.

pub mod cache;
pub mod dag;
pub mod depinfo;
pub mod gate;
pub mod merge;
pub mod output;
pub mod planned;
pub mod report;
pub mod runner;
pub mod scheduler;
pub mod shared;

pub use crate::layout::cargo_target_dir;
