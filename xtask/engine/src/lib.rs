//! gatehouse's engine: the gate model, graph, scheduler, cache and reports (`engine`), the
//! configuration (`config`), the one spawner's policy (`process`), the pinned tool manifest
//! (`tools`), the HTTP stack (`http`), git, exit codes and run settings. Every other gatehouse
//! crate builds on it; it knows no service, registry or cloud.

pub mod codegen;
pub mod compile_cache;
pub mod config;
pub mod engine;
pub mod exit;
pub mod fanout;
pub mod git;
pub mod http;
pub mod init;
pub mod layout;
pub mod migrations;
pub mod platform;
pub mod process;
pub mod settings;
pub mod timeline;
pub mod tools;
