//! Build metadata embedded at compile time (release builds set `APP_BUILD_COMMIT` and `APP_BUILD_DATE`).

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = match option_env!("APP_BUILD_COMMIT") {
    Some(c) => c,
    None => "unknown",
};
pub const DATE: &str = match option_env!("APP_BUILD_DATE") {
    Some(d) => d,
    None => "unknown",
};
