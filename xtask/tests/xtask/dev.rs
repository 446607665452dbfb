//! `cargo xtask dev up|status|down`: a real PostgreSQL in the background, and nothing left after `down`.

use crate::support::Fixture;

#[test]
fn dev_up_starts_postgres_status_reports_it_and_down_leaves_nothing_running() {
    let fx = Fixture::new("engine");
    let up = fx.run(&["--format", "json", "dev", "up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let json: serde_json::Value = serde_json::from_str(&up.stdout).expect("dev up --format json");
    let pid = i32::try_from(json["postgres"]["pid"].as_i64().expect("pid")).unwrap();
    assert!(json["database_url"].as_str().unwrap().ends_with("/app"));
    assert!(
        xtask::process::process_state(nix::unistd::Pid::from_raw(pid)).is_some_and(|s| s != 'Z')
    );

    let again = fx.run(&["dev", "up"]);
    assert!(again.stderr.contains("already running"), "{}", again.stderr);
    let status = fx.run(&["dev", "status"]);
    assert!(status.stderr.contains("running (pid"), "{}", status.stderr);
    assert!(
        status
            .stdout
            .contains("APP_DATABASE_URL=postgres://postgres@127.0.0.1:")
    );

    let down = fx.run(&["dev", "down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    let gone =
        xtask::process::process_state(nix::unistd::Pid::from_raw(pid)).is_none_or(|s| s == 'Z');
    assert!(gone, "PostgreSQL outlived `dev down`");
    assert!(!fx.path("target/xtask/dev/postgres.json").exists());
    assert!(fx.run(&["dev", "status"]).stderr.contains("not running"));
}
