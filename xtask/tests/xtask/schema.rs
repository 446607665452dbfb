//! Expand or contract, judged from PostgreSQL's own parse of each up migration
//! (`cargo xtask migrations classify`, what promotions and rollbacks decide on): the SQL that a
//! first-word reading gets wrong, each planted in its own migration.

use serde_json::Value;

use crate::support::Fixture;

/// The line and words of the reason of a contract; `None` for expand.
type Expected = Option<(usize, &'static str)>;

/// (file, SQL, expected judgement).
const PLANTED: &[(&str, &str, Expected)] = &[
    (
        "0001_new_table.up.sql",
        "SET lock_timeout = '5s';\n-- DROP TABLE orders; (a comment)\nCREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);\nCREATE UNIQUE INDEX notes_body ON notes (body);\nALTER TABLE notes ADD COLUMN n int NOT NULL;\nSELECT 1;",
        None,
    ),
    (
        "0002_function_body.up.sql",
        "CREATE FUNCTION tidy() RETURNS void LANGUAGE sql AS $body$\n  DELETE FROM notes; DROP TABLE x;\n$body$;\nALTER TABLE notes ADD COLUMN tag text DEFAULT 'none' NOT NULL;",
        None,
    ),
    (
        "0003_do_block.up.sql",
        "CREATE TABLE t (id int);\n\n/* a block\n   comment */\nDO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$;",
        Some((5, "DO block")),
    ),
    (
        "0004_backfill.up.sql",
        "ALTER TABLE notes ADD COLUMN done boolean;\nUPDATE notes SET done = false;",
        Some((2, "changes existing rows")),
    ),
    (
        "0005_delete.up.sql",
        "DELETE FROM notes WHERE body = '';",
        Some((1, "deletes rows")),
    ),
    (
        "0006_unique.up.sql",
        "CREATE UNIQUE INDEX CONCURRENTLY notes_tag ON notes (tag);",
        Some((1, "unique index on existing rows")),
    ),
    (
        "0007_rename.up.sql",
        "ALTER TABLE notes\n  RENAME COLUMN body TO text;",
        Some((1, "renames")),
    ),
    (
        "0008_type.up.sql",
        "ALTER TABLE notes ALTER COLUMN n TYPE bigint USING n::bigint;",
        Some((1, "type")),
    ),
    (
        "0009_required.up.sql",
        "ALTER TABLE notes ADD COLUMN owner bigint NOT NULL;",
        Some((1, "without a default")),
    ),
    (
        "0010_broken.up.sql",
        "ALTER TABLE notes ADD COLUMN;",
        Some((1, "does not parse")),
    ),
    (
        "0011_unknown.up.sql",
        "CLUSTER notes USING notes_pkey;",
        Some((1, "not judged")),
    ),
    (
        "0012_semicolon_in_string.up.sql",
        "INSERT INTO notes (body) VALUES ('a; DROP TABLE notes');\nALTER TABLE notes DROP COLUMN tag;",
        Some((2, "drops a column")),
    ),
    (
        "0013_side_effect.up.sql",
        "SELECT setval('notes_id_seq', 1000);",
        Some((1, "calls a function")),
    ),
];

#[test]
fn migrations_are_judged_from_postgresqls_parse_and_anything_unjudged_is_contract() {
    let fx = Fixture::new("engine");
    let mut config = fx.read("gatehouse.toml");
    config.push_str("\n[tools.pglast]\nsource = \"pip\"\nversion = \"8.8\"\nbin = \"pgpp\"\n");
    fx.write("gatehouse.toml", &config);
    std::fs::create_dir_all(fx.path("db")).unwrap();
    for (file, sql, _) in PLANTED {
        fx.write(&format!("db/{file}"), sql);
    }
    let run = fx.run(&["--format", "json", "migrations", "classify", "db"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let found: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(found.len(), PLANTED.len(), "{found:#?}");
    for ((file, sql, expected), got) in PLANTED.iter().zip(&found) {
        assert_eq!(got["file"], *file);
        match expected {
            None => assert_eq!(got["kind"], "expand", "{file}: {got}"),
            Some((line, why)) => {
                assert_eq!(got["kind"], "contract", "{file}: {got}");
                assert_eq!(got["line"], *line, "{file}: {got}");
                let reason = got["reason"].as_str().unwrap();
                assert!(reason.contains(why), "{file}: {reason}");
                let statement = got["statement"].as_str().unwrap();
                let first_word = sql.lines().nth(line - 1).unwrap().split_whitespace().next();
                assert!(
                    *why == "does not parse" || statement.split_whitespace().next() == first_word,
                    "{file}: the statement is named: {statement}"
                );
            }
        }
    }

    let human = fx.run(&["migrations", "classify", "db"]);
    assert!(
        human.stdout.contains("contract  db/0007_rename.up.sql:1: `ALTER TABLE notes RENAME COLUMN body TO text` renames"),
        "{}",
        human.stdout
    );
}

#[test]
fn classify_without_a_directory_names_the_keys_to_set() {
    let fx = Fixture::new("engine");
    let run = fx.run(&["migrations", "classify"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[release] migrations or [migrations] dir"),
        "{}",
        run.stderr
    );
}
