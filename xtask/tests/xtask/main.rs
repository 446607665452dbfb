//! xtask's integration tests: the real binary against a small fixture workspace.

mod api_fuzz;
mod aws;
mod chart;
mod cli;
mod codegen;
mod contract;
mod deploy;
mod dev;
mod eks;
mod engine;
mod init;
mod interrupt;
mod load;
mod migrations;
mod publish;
mod registry_auth;
mod release;
mod rollout;
mod runbooks;
mod schema;
mod second_service;
mod slo;
mod spawner;
mod support;
mod tls;
mod under_tool;
