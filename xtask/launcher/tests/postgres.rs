//! The ephemeral PostgreSQL really starts, serves SQL, and leaves nothing behind.

use launcher::Postgres;

#[test]
fn an_ephemeral_server_serves_sql_and_is_gone_after_drop() {
    let pg = Postgres::ephemeral().expect("start PostgreSQL");
    assert!(pg.state.is_running());
    pg.create_database("gatehouse_test")
        .expect("create a database");
    let dup = pg.create_database("gatehouse_test");
    assert!(
        dup.is_err(),
        "creating the same database twice fails, so the first really happened"
    );
    assert!(
        pg.url("gatehouse_test")
            .starts_with("postgres://postgres@127.0.0.1:")
    );
    let (state, dir) = (pg.state.clone(), pg.state.base_dir.clone());
    drop(pg);
    assert!(
        !launcher::alive(state.pid),
        "the server process is gone after drop"
    );
    assert!(!dir.exists(), "its directory is removed on drop");
}

#[test]
fn a_detached_server_survives_until_stopped() {
    let state = Postgres::detached().expect("start PostgreSQL");
    assert!(state.is_running());
    state.stop_and_remove().expect("stop");
    assert!(!launcher::alive(state.pid), "the server process is gone");
    assert!(!state.base_dir.exists());
}
