//! Expand or contract: whether the code of the release before a migration can still run on the
//! schema after it. Promotions apply only expand migrations ahead of the code; a rollback onto a
//! schema with a contract migration the target release does not know is refused.

use serde::Serialize;

/// What a migration does to the code that came before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// Only adds: the previous release runs on the new schema.
    Expand,
    /// Removes or changes something the previous release may use.
    Contract { line: usize, reason: String },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Expand => "expand",
            Kind::Contract { .. } => "contract",
        }
    }
}

/// An up migration of a release: `0004_add_notes.up.sql` or `0004_add_notes/up.sql` → version 4
/// (see [`crate::migrations`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Migration {
    pub version: i64,
    pub file: String,
    #[serde(flatten)]
    pub kind: Kind,
}

impl Migration {
    /// `file` relative to the migrations directory; `None` for anything but an up migration.
    pub fn parse(file: &str, sql: &str) -> Option<Migration> {
        let version = crate::migrations::version(crate::migrations::up_stem(file)?)?;
        Some(Migration {
            version,
            file: file.to_owned(),
            kind: classify(sql),
        })
    }
}

/// The first statement that contracts the schema, or `Expand`.
pub fn classify(sql: &str) -> Kind {
    for (line, statement) in statements(sql) {
        if let Some(reason) = contract_reason(&statement) {
            return Kind::Contract {
                line,
                reason: reason.to_owned(),
            };
        }
    }
    Kind::Expand
}

/// Statements with comments removed, upper-cased with single spaces, and the line each starts on.
fn statements(sql: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (n, line) in sql.lines().enumerate() {
        let code = line.split("--").next().unwrap_or("");
        for (i, part) in code.split(';').enumerate() {
            if i > 0 {
                push(&mut out, &mut current, start);
            }
            if current.trim().is_empty() && !part.trim().is_empty() {
                start = n + 1;
            }
            current.push(' ');
            current.push_str(part);
        }
    }
    push(&mut out, &mut current, start);
    out
}

fn push(out: &mut Vec<(usize, String)>, current: &mut String, start: usize) {
    let words: Vec<&str> = current.split_whitespace().collect();
    if !words.is_empty() {
        out.push((start, words.join(" ").to_uppercase()));
    }
    current.clear();
}

/// Why `statement` (normalised) breaks code written for the schema before it.
fn contract_reason(s: &str) -> Option<&'static str> {
    let has = |w: &str| s.contains(w);
    if s.starts_with("DROP ") && !s.starts_with("DROP INDEX") {
        return Some("drops an object the previous release may use");
    }
    if s.starts_with("TRUNCATE") || s.starts_with("DELETE ") {
        return Some("deletes rows the previous release may read");
    }
    if !s.starts_with("ALTER ") {
        return None;
    }
    if has(" DROP COLUMN") || has(" DROP CONSTRAINT") && !has(" IF EXISTS") {
        return Some("drops a column or constraint the previous release may use");
    }
    if has(" RENAME ") {
        return Some("renames something the previous release refers to by name");
    }
    if has(" TYPE ") && has(" ALTER COLUMN") {
        return Some("changes a column's type under the previous release");
    }
    if has(" SET NOT NULL") {
        return Some("makes a column required that the previous release may leave empty");
    }
    if has(" ADD CONSTRAINT") || has(" ADD CHECK") || has(" ADD UNIQUE") {
        return Some("adds a constraint the previous release's writes may break");
    }
    if has(" ADD COLUMN") && has(" NOT NULL") && !has(" DEFAULT ") {
        return Some(
            "adds a required column without a default: the previous release's inserts fail",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_expand() {
        let sql = "SET lock_timeout = '5s';\nCREATE TABLE notes (id bigint);\n-- DROP TABLE x;\nALTER TABLE tasks ADD COLUMN note text;\nALTER TABLE tasks ADD COLUMN n int NOT NULL DEFAULT 0;\nCREATE INDEX CONCURRENTLY i ON tasks (note);\nDROP INDEX i;";
        assert_eq!(classify(sql), Kind::Expand);
    }

    #[test]
    fn removals_and_changes_contract_with_their_line() {
        let cases = [
            (
                "SELECT 1;\nALTER TABLE tasks\n  DROP COLUMN note;",
                2,
                "drops a column",
            ),
            ("DROP TABLE notes;", 1, "drops an object"),
            ("ALTER TABLE tasks RENAME COLUMN a TO b;", 1, "renames"),
            ("ALTER TABLE t ALTER COLUMN a TYPE bigint;", 1, "type"),
            ("ALTER TABLE t ALTER COLUMN a SET NOT NULL;", 1, "required"),
            (
                "ALTER TABLE t ADD COLUMN a int NOT NULL;",
                1,
                "without a default",
            ),
            (
                "\n\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);",
                3,
                "constraint",
            ),
        ];
        for (sql, line, why) in cases {
            match classify(sql) {
                Kind::Contract { line: l, reason } => {
                    assert_eq!(l, line, "{sql}");
                    assert!(reason.contains(why), "{sql}: {reason}");
                }
                Kind::Expand => panic!("{sql} is a contract migration"),
            }
        }
    }

    #[test]
    fn versions_come_from_the_file_name() {
        let m = Migration::parse("0004_notes.up.sql", "CREATE TABLE n ();").unwrap();
        assert_eq!((m.version, m.kind), (4, Kind::Expand));
        assert!(Migration::parse("0004_notes.down.sql", "").is_none());
        assert!(Migration::parse("README.md", "").is_none());
    }
}
