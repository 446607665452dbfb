//! `cargo xtask dev up|status|down`: a real PostgreSQL in the background, and nothing left after `down`.

use crate::support::Fixture;

/// Runs `dev down` when a test ends, passed or not: no server outlives a failed assertion.
struct Down<'a>(&'a Fixture);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["dev", "down"]);
    }
}

fn pid_of(up: &crate::support::Run) -> i32 {
    let json: serde_json::Value = serde_json::from_str(&up.stdout).expect("dev up --format json");
    i32::try_from(json["postgres"]["pid"].as_i64().expect("pid")).unwrap()
}

#[test]
fn dev_up_starts_postgres_status_reports_it_and_down_leaves_nothing_running() {
    let fx = Fixture::new("engine");
    let _down = Down(&fx);
    let up = fx.run(&["--format", "json", "dev", "up"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let json: serde_json::Value = serde_json::from_str(&up.stdout).expect("dev up --format json");
    let pid = pid_of(&up);
    let url = json["database_url"].as_str().unwrap();
    let (path, query) = url.split_once('?').expect("TLS parameters");
    // No [service] in the fixture: the database is named after the project.
    assert!(path.ends_with("/fixture"), "{url}");
    assert!(
        query.starts_with("sslmode=verify-full&sslrootcert=/"),
        "{url}"
    );
    assert!(launcher::alive(pid));
    assert!(
        fx.path("target/xtask/dev/postgres.json").exists(),
        "the state is kept under target/"
    );

    let again = fx.run(&["dev", "up"]);
    assert!(again.stderr.contains("already running"), "{}", again.stderr);
    let status = fx.run(&["dev", "status"]);
    assert!(status.stderr.contains("running (pid"), "{}", status.stderr);
    // Without [service] to name its variable, the URL is printed as DATABASE_URL.
    assert!(
        status
            .stdout
            .lines()
            .any(|l| l.starts_with("DATABASE_URL=postgres://postgres@127.0.0.1:")),
        "{}",
        status.stdout
    );

    let down = fx.run(&["dev", "down"]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    let gone = !launcher::alive(pid);
    assert!(gone, "PostgreSQL outlived `dev down`");
    assert!(!fx.path("target/xtask/dev/postgres.json").exists());
    assert!(fx.run(&["dev", "status"]).stderr.contains("not running"));
}

#[test]
fn dev_up_after_the_server_died_replaces_it_and_removes_the_old_data() {
    let fx = Fixture::new("engine");
    let _down = Down(&fx);
    let first = fx.run(&["--format", "json", "dev", "up"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let state: serde_json::Value =
        serde_json::from_str(&fx.read("target/xtask/dev/postgres.json")).expect("state file");
    let old_dir = std::path::PathBuf::from(state["base_dir"].as_str().expect("base_dir"));
    let old = pid_of(&first);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the server");
    for _ in 0..100 {
        if !launcher::alive(old) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let second = fx.run(&["--format", "json", "dev", "up"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        !second.stderr.contains("already running"),
        "{}",
        second.stderr
    );
    assert_ne!(pid_of(&second), old);
    assert!(!old_dir.exists(), "the dead server's directory is removed");
}
