//! The `migrations` gate on the fixture workspace, against a real ephemeral PostgreSQL.

use crate::support::{Fixture, gate_entry, reason, status};

const UP: &str = "CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);\nCREATE INDEX notes_body ON notes (body);\n";
const DOWN: &str = "DROP TABLE notes;\n";

/// The repo's squawk rules: the fixture's small tables need no timeouts or 64-bit ids.
const SQUAWK: &str = "pg_version = \"15.0\"\nassume_in_transaction = true\nexcluded_rules = [\"require-lock-timeout\", \"require-statement-timeout\", \"prefer-bigint-over-int\"]\n";

fn fixture(files: &[(&str, &str)]) -> Fixture {
    let fx = Fixture::new("engine");
    let mut config = fx.read("gatehouse.toml");
    config.push_str("\n[migrations]\ndir = \"migrations\"\n\n[tools.postgresql]\nsource = \"debian\"\nversion = \"15\"\nbin = \"psql\"\n\n[tools.squawk]\nsource = \"pip\"\npackage = \"squawk-cli\"\nversion = \"2.70.0\"\n");
    fx.write("gatehouse.toml", &config);
    fx.write(".squawk.toml", SQUAWK);
    std::fs::create_dir_all(fx.path("migrations")).unwrap();
    for (name, sql) in files {
        fx.write(&format!("migrations/{name}"), sql);
    }
    fx
}

#[test]
fn reversible_migrations_pass_and_say_what_was_proven() {
    let fx = fixture(&[
        ("0001_notes.up.sql", UP),
        ("0001_notes.down.sql", DOWN),
        (
            "0002_tags.up.sql",
            "ALTER TABLE notes ADD COLUMN tag text;\n",
        ),
        ("0002_tags.down.sql", "ALTER TABLE notes DROP COLUMN tag;\n"),
    ]);
    let run = fx.run(&["gate", "migrations"]);
    assert_eq!(
        run.code,
        0,
        "{}{}",
        run.stdout,
        fx.run_file("gates/migrations.log")
    );
    let report = fx.report();
    let summary = gate_entry(&report, "migrations")["summary"]
        .as_str()
        .unwrap_or("");
    assert!(
        summary.starts_with("2 migrations, up/down/up and step-wise"),
        "{summary}"
    );
}

#[test]
fn a_down_that_leaves_an_object_behind_fails_naming_it() {
    let fx = fixture(&[
        ("0001_notes.up.sql", UP),
        ("0001_notes.down.sql", DOWN),
        (
            "0002_search.up.sql",
            "CREATE FUNCTION search(q text) RETURNS integer LANGUAGE sql AS 'SELECT 1';\n",
        ),
        ("0002_search.down.sql", "SELECT 1;\n"),
    ]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let report = fx.report();
    assert_eq!(status(&report, "migrations"), "failed");
    let diagnostics = gate_entry(&report, "migrations")["diagnostics"].to_string();
    assert!(
        diagnostics.contains("migrations/0002_search.down.sql"),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains("does not restore the schema before 0002_search"),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains("FUNCTION public.search"),
        "names the object: {diagnostics}"
    );
    assert!(
        fx.run_file("gates/migrations.log")
            .contains("+CREATE FUNCTION public.search"),
        "diff in the log"
    );
}

#[test]
fn a_migration_without_a_down_fails() {
    let fx = fixture(&[("0001_notes.up.sql", UP)]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    assert!(
        reason(&fx.report(), "migrations").contains("no down migration"),
        "{}",
        fx.report()
    );
}

#[test]
fn a_failing_down_fails_with_postgres_message() {
    let fx = fixture(&[
        ("0001_notes.up.sql", UP),
        ("0001_notes.down.sql", "DROP TABLE nothing_here;\n"),
    ]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    assert!(
        reason(&fx.report(), "migrations").contains("does not exist"),
        "{}",
        fx.report()
    );
}

#[test]
fn editing_a_released_migration_fails_with_both_checksums() {
    let fx = fixture(&[("0001_notes.up.sql", UP), ("0001_notes.down.sql", DOWN)]);
    fx.git(&["init", "-q"]);
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "release"]);
    fx.git(&["tag", "v0.1.0"]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 0);
    assert!(
        gate_entry(&fx.report(), "migrations")["summary"]
            .to_string()
            .contains("released as of v0.1.0 unchanged")
    );

    let edited = UP.replace("body text", "body varchar(80)");
    fx.write("migrations/0001_notes.up.sql", &edited);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let report = fx.report();
    let diagnostics = gate_entry(&report, "migrations")["diagnostics"].to_string();
    assert!(
        diagnostics.contains("migrations/0001_notes.up.sql"),
        "{diagnostics}"
    );
    let expected = format!(
        "released in v0.1.0 and since edited: sha256 {} then, {} now",
        sha256(UP),
        sha256(&edited)
    );
    assert!(diagnostics.contains(&expected), "{diagnostics}");
}

fn sha256(text: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

#[test]
fn a_tag_made_after_a_cached_pass_is_still_checked_and_packing_refs_is_not_a_change() {
    let fx = fixture(&[("0001_notes.up.sql", UP), ("0001_notes.down.sql", DOWN)]);
    fx.git(&["init", "-q"]);
    fx.git(&["add", "-A"]);
    fx.git(&["commit", "-qm", "first"]);
    fx.write("migrations/0001_notes.up.sql", &format!("{UP}-- edited\n"));
    fx.git(&["commit", "-qam", "edit"]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 0, "no tag yet");
    fx.git(&["pack-refs", "--all"]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 0);
    assert_eq!(
        status(&fx.report(), "migrations"),
        "cached",
        "how git stores its refs (packed here, loose in another clone) is not an input"
    );

    fx.git(&["tag", "v0.1.0", "HEAD~1"]);
    assert_eq!(
        fx.run(&["gate", "migrations"]).code,
        1,
        "the new tag must not hit the cache"
    );
    assert_eq!(status(&fx.report(), "migrations"), "failed");
}

#[test]
fn a_missing_down_does_not_blame_the_next_migration() {
    let fx = fixture(&[
        ("0001_notes.up.sql", UP),
        (
            "0002_tags.up.sql",
            "ALTER TABLE notes ADD COLUMN tag text;\n",
        ),
        ("0002_tags.down.sql", "ALTER TABLE notes DROP COLUMN tag;\n"),
    ]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let report = fx.report();
    let diagnostics = gate_entry(&report, "migrations")["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        diagnostics.len(),
        1,
        "only the missing down: {diagnostics:?}"
    );
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no down migration")
    );
}

const ADD_TAG: &str = "ALTER TABLE notes ADD COLUMN tag text;\n";

#[test]
fn an_unsafe_migration_fails_at_its_file_and_line_naming_the_rule() {
    let fx = fixture(&[
        ("0001_notes.up.sql", UP),
        ("0001_notes.down.sql", DOWN),
        (
            "0002_tags.up.sql",
            &format!("{ADD_TAG}CREATE INDEX notes_tag ON notes (tag);\n"),
        ),
        ("0002_tags.down.sql", "ALTER TABLE notes DROP COLUMN tag;\n"),
    ]);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let report = fx.report();
    let diagnostics = gate_entry(&report, "migrations")["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let lint: Vec<_> = diagnostics
        .iter()
        .filter(|d| {
            d["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("require-concurrent-index-creation")
        })
        .collect();
    assert_eq!(lint.len(), 1, "{diagnostics:?}");
    assert_eq!(lint[0]["file"], "migrations/0002_tags.up.sql");
    assert_eq!(lint[0]["line"], 2, "squawk counts from 0, reports from 1");
    assert_eq!(diagnostics.len(), 1, "the down's DROP COLUMN is not linted");
}

#[test]
fn allowances_in_the_migration_and_rules_in_the_repo_config_are_honoured() {
    let files = [
        ("0001_notes.up.sql", UP),
        ("0001_notes.down.sql", DOWN),
        (
            "0002_tags.up.sql",
            "ALTER TABLE notes ADD COLUMN tag text;\n-- squawk-ignore require-concurrent-index-creation\nCREATE INDEX notes_tag ON notes (tag);\n",
        ),
        ("0002_tags.down.sql", "ALTER TABLE notes DROP COLUMN tag;\n"),
    ];
    let fx = fixture(&files);
    let run = fx.run(&["gate", "migrations"]);
    assert_eq!(run.code, 0, "{}", fx.run_file("gates/migrations.log"));
    // Without the repo's rules, the fixture's 32-bit id is a finding.
    fx.write(
        ".squawk.toml",
        "pg_version = \"15.0\"\nassume_in_transaction = true\n",
    );
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let diagnostics = gate_entry(&fx.report(), "migrations")["diagnostics"].to_string();
    assert!(
        diagnostics.contains("prefer-bigint-over-int"),
        "{diagnostics}"
    );
}

/// A down must restore everything a database user can observe and rely on, not only the objects
/// of the schema: each planted down forgets one such thing, and the gate names each (step-wise,
/// every migration is checked on its own; the role comes last, as its up cannot run twice).
#[test]
fn a_down_that_forgets_a_grant_a_comment_rows_a_role_or_a_setting_fails_naming_it() {
    let cases = [
        (
            "grant",
            "GRANT SELECT ON notes TO PUBLIC;",
            "GRANT SELECT ON TABLE public.notes TO PUBLIC",
        ),
        (
            "comment",
            "COMMENT ON COLUMN notes.body IS 'what was said';",
            "COMMENT ON COLUMN public.notes.body",
        ),
        (
            "seed",
            "INSERT INTO notes SELECT coalesce(max(id), 0) + 1, 'welcome' FROM notes;",
            "rows: public.notes 1",
        ),
        (
            "setting",
            "ALTER ROLE CURRENT_USER SET work_mem = '8MB';",
            "work_mem=8MB",
        ),
        (
            "default",
            "ALTER TABLE notes ALTER COLUMN body SET DEFAULT '';",
            "DEFAULT ''",
        ),
        (
            "role",
            "CREATE ROLE gatehouse_reader;",
            "role: gatehouse_reader",
        ),
    ];
    let mut files = vec![
        ("0001_notes.up.sql".to_owned(), UP.to_owned()),
        ("0001_notes.down.sql".to_owned(), DOWN.to_owned()),
    ];
    for (n, (name, up, _)) in cases.iter().enumerate() {
        files.push((format!("{:04}_{name}.up.sql", n + 2), (*up).to_owned()));
        files.push((
            format!("{:04}_{name}.down.sql", n + 2),
            "SELECT 1;\n".to_owned(),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(f, s)| (f.as_str(), s.as_str()))
        .collect();
    let fx = fixture(&files);
    assert_eq!(fx.run(&["gate", "migrations"]).code, 1);
    let report = fx.report();
    let diagnostics = gate_entry(&report, "migrations")["diagnostics"]
        .as_array()
        .unwrap()
        .clone();
    for (n, (name, _, named)) in cases.iter().enumerate() {
        let down = format!("migrations/{:04}_{name}.down.sql", n + 2);
        let found = diagnostics
            .iter()
            .find(|d| d["file"] == down.as_str())
            .unwrap_or_else(|| panic!("{name}: no finding at {down}: {diagnostics:#?}"));
        let message = found["message"].as_str().unwrap();
        assert!(
            message.contains("does not restore the schema before") && message.contains(named),
            "{name} names `{named}`: {message}"
        );
    }
}
