//! Expand or contract: whether the code of the release before a migration can still run on the
//! schema after it. Promotions apply only expand migrations ahead of the code; a rollback onto a
//! schema with a contract migration the target release does not know is refused.
//!
//! Each up migration is parsed by PostgreSQL's own grammar (libpg_query, through the pinned
//! `pglast` tool), and each statement is judged from its parse tree. The judgement is an allow
//! list: a statement it does not know, a `DO` block, or SQL that does not parse is a contract
//! (fail safe), named by file, line and statement.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;

use crate::engine::gate::{RunCtx, Step, code};

/// The manifest tool that parses SQL.
pub const PARSER: &str = "pglast";

/// What a migration does to the code that came before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Kind {
    /// Only adds: the previous release runs on the new schema.
    Expand,
    /// Removes or changes something the previous release may use, or cannot be judged.
    Contract {
        line: usize,
        reason: String,
        statement: String,
    },
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

/// The version of an up migration file (relative to the migrations directory); `None` for
/// anything else.
pub fn up_version(file: &str) -> Option<i64> {
    crate::migrations::version(crate::migrations::up_stem(file)?)
}

/// The up migrations in `dir`, each judged from PostgreSQL's parse of it, by version.
pub fn classify_dir(ctx: &RunCtx, dir: &Path) -> Result<Vec<Migration>> {
    let mut ups = Vec::new();
    for m in crate::migrations::scan(dir)? {
        if let Some(version) = up_version(&m.up) {
            ups.push((version, m.up));
        }
    }
    ups.sort();
    let files: Vec<String> = ups.iter().map(|(_, f)| f.clone()).collect();
    let parsed = parse(ctx, dir, &files)?;
    ups.into_iter()
        .zip(parsed)
        .map(|((version, file), tree)| {
            let path = dir.join(&file);
            let sql = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Migration {
                version,
                file,
                kind: classify(&sql, &tree),
            })
        })
        .collect()
}

/// Reads each of `files` (under `dir`) and prints libpg_query's JSON parse tree, or the parser's
/// error, one JSON document for all.
const PARSE: &str = r#"
import json, pathlib, sys
from pglast import parser
out = []
for path in sys.argv[1:]:
    sql = pathlib.Path(path).read_text(encoding="utf-8")
    try:
        out.append({"tree": json.loads(parser.parse_sql_json(sql))})
    except parser.ParseError as e:
        out.append({"error": str(e)})
print(json.dumps(out))
"#;

/// What the parser made of one file.
#[derive(Debug)]
pub enum Parsed {
    Tree(Value),
    Error(String),
}

/// The parser over `files`, one process for all.
pub fn parse_step(files: impl IntoIterator<Item = String>) -> Step {
    Step::new("python", &["-c", PARSE])
        .tool(PARSER)
        .args(files)
        .quiet_stdout()
}

/// Parses `files` (relative to `dir`) with PostgreSQL's grammar, in one process.
pub fn parse(ctx: &RunCtx, dir: &Path, files: &[String]) -> Result<Vec<Parsed>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let step = parse_step(files.iter().map(|f| dir.join(f).display().to_string()));
    let out = ctx.exec(&step)?;
    if !out.success() {
        bail!(
            "the SQL parser ({PARSER}) failed ({}): {}",
            code(&out),
            out.stderr.trim()
        );
    }
    let docs: Vec<Value> = serde_json::from_str(&out.stdout)
        .with_context(|| format!("the SQL parser ({PARSER}) printed no JSON"))?;
    if docs.len() != files.len() {
        bail!(
            "the SQL parser ({PARSER}) answered for {} of {} files",
            docs.len(),
            files.len()
        );
    }
    Ok(docs
        .into_iter()
        .map(|d| match d.get("error").and_then(Value::as_str) {
            Some(e) => Parsed::Error(e.to_owned()),
            None => Parsed::Tree(d["tree"].clone()),
        })
        .collect())
}

/// The first statement of `sql` that contracts the schema or cannot be judged, or `Expand`.
pub fn classify(sql: &str, parsed: &Parsed) -> Kind {
    let tree = match parsed {
        Parsed::Tree(tree) => tree,
        Parsed::Error(e) => {
            return Kind::Contract {
                line: 1,
                reason: format!("does not parse as PostgreSQL ({e}): treated as contract"),
                statement: String::new(),
            };
        }
    };
    let mut created = BTreeSet::new();
    for stmt in tree["stmts"].as_array().map_or(&[][..], Vec::as_slice) {
        let Some((node, body)) = stmt["stmt"].as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        if let Some(reason) = contract_reason(node, body, &mut created) {
            let (line, statement) = locate(sql, stmt);
            return Kind::Contract {
                line,
                reason,
                statement,
            };
        }
    }
    Kind::Expand
}

/// The line a statement starts on and its text (whitespace collapsed). Locations are byte
/// offsets; a statement's span starts after the previous `;`, comments included.
fn locate(sql: &str, stmt: &Value) -> (usize, String) {
    let at = usize::try_from(stmt["stmt_location"].as_u64().unwrap_or(0)).unwrap_or(0);
    let len = usize::try_from(stmt["stmt_len"].as_u64().unwrap_or(0)).unwrap_or(0);
    let bytes = sql.as_bytes();
    let end = if len == 0 {
        bytes.len()
    } else {
        (at + len).min(bytes.len())
    };
    let span = String::from_utf8_lossy(bytes.get(at..end).unwrap_or_default());
    let skipped = span.len() - skip_comments(&span).len();
    let start = at + skipped;
    let line = 1 + bytes[..start.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    let text: Vec<&str> = skip_comments(&span).split_whitespace().collect();
    (line, text.join(" "))
}

/// `text` without the whitespace and comments before its first token.
fn skip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return text;
        }
    }
}

/// Why a statement breaks the code written for the schema before it; `None` when it only adds.
/// `created` holds the tables this migration created so far: changing those breaks nothing.
fn contract_reason(node: &str, s: &Value, created: &mut BTreeSet<String>) -> Option<String> {
    let text = |r: &str| Some(r.to_owned());
    match node {
        // Session settings and transaction control change no schema.
        "VariableSetStmt" | "TransactionStmt" => None,
        "CreateStmt" => {
            created.insert(relation(&s["relation"]));
            None
        }
        "CreateSeqStmt"
        | "CreateEnumStmt"
        | "CompositeTypeStmt"
        | "CreateDomainStmt"
        | "CreateExtensionStmt"
        | "CreateSchemaStmt"
        | "CommentStmt"
        | "InsertStmt" => None,
        "IndexStmt"
            if s["unique"].as_bool() == Some(true)
                && !created.contains(&relation(&s["relation"])) =>
        {
            text(
                "creates a unique index on existing rows: it fails on duplicates already there and refuses the previous release's writes that duplicate",
            )
        }
        "IndexStmt" => None,
        "DropStmt" if s["removeType"] == "OBJECT_INDEX" => None,
        "DropStmt" => text("drops an object the previous release may use"),
        "TruncateStmt" | "DeleteStmt" => text("deletes rows the previous release may read"),
        "UpdateStmt" | "MergeStmt" => {
            text("changes existing rows: a rollback does not restore them")
        }
        "RenameStmt" => text("renames something the previous release refers to by name"),
        "DoStmt" => text("runs a DO block, whose effects cannot be judged: treated as contract"),
        "CreateFunctionStmt" | "ViewStmt" | "CreateTableAsStmt"
            if s["replace"].as_bool() == Some(true) =>
        {
            text("replaces a definition the previous release may rely on")
        }
        "CreateFunctionStmt" | "ViewStmt" | "CreateTableAsStmt" => None,
        "SelectStmt" if contains(s, "FuncCall") => {
            text("calls a function, whose effects cannot be judged: treated as contract")
        }
        "SelectStmt" => None,
        "AlterEnumStmt" if s["oldVal"].is_null() => None,
        "AlterEnumStmt" => text("renames an enum value the previous release writes"),
        "GrantStmt" if s["is_grant"].as_bool() == Some(true) => None,
        "GrantStmt" => text("revokes a privilege the previous release may need"),
        "CreateTrigStmt" | "AlterTableStmt" | "RuleStmt" | "CreatePolicyStmt"
            if created.contains(&relation(&s["relation"])) =>
        {
            None
        }
        "CreateTrigStmt" | "RuleStmt" | "CreatePolicyStmt" => text(
            "adds a trigger, rule or policy to an existing table: it may refuse or change the previous release's writes",
        ),
        "AlterTableStmt" => s["cmds"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|cmd| alter_reason(&cmd["AlterTableCmd"])),
        other => Some(format!(
            "is a statement ({other}) whose effect on the previous release is not judged: treated as contract"
        )),
    }
}

/// Why one `ALTER TABLE` subcommand breaks the previous release's code.
fn alter_reason(cmd: &Value) -> Option<String> {
    let text = |r: &str| Some(r.to_owned());
    match cmd["subtype"].as_str().unwrap_or("") {
        "AT_AddColumn" => {
            let constraints = constraint_types(&cmd["def"]["ColumnDef"]["constraints"]);
            let has = |c: &str| constraints.iter().any(|t| t == c);
            if has("CONSTR_PRIMARY") || has("CONSTR_UNIQUE") {
                text("adds a unique column to existing rows")
            } else if has("CONSTR_NOTNULL") && !has("CONSTR_DEFAULT") && !has("CONSTR_IDENTITY") {
                text(
                    "adds a required column without a default: the previous release's inserts fail",
                )
            } else {
                None
            }
        }
        "AT_DropNotNull" | "AT_AddIndex" | "AT_SetStatistics" | "AT_SetStorage" => None,
        "AT_ColumnDefault" if !cmd["def"].is_null() => None,
        "AT_ColumnDefault" => text("drops a default the previous release's inserts may rely on"),
        "AT_DropColumn" => text("drops a column the previous release may use"),
        "AT_DropConstraint" => text("drops a constraint the previous release may rely on"),
        "AT_AlterColumnType" => text("changes a column's type under the previous release"),
        "AT_SetNotNull" => {
            text("makes a column required that the previous release may leave empty")
        }
        "AT_AddConstraint" | "AT_ValidateConstraint" => {
            text("adds a constraint the previous release's writes may break")
        }
        other => Some(format!(
            "alters a table ({other}) in a way whose effect on the previous release is not judged: treated as contract"
        )),
    }
}

/// Whether a `node` appears anywhere in `tree`.
fn contains(tree: &Value, node: &str) -> bool {
    match tree {
        Value::Object(o) => o.iter().any(|(k, v)| k == node || contains(v, node)),
        Value::Array(a) => a.iter().any(|v| contains(v, node)),
        _ => false,
    }
}

fn constraint_types(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Constraint"]["contype"].as_str().map(str::to_owned))
        .collect()
}

/// `schema.name` of a `RangeVar` (`public.` assumed when unqualified).
fn relation(range: &Value) -> String {
    let name = range["relname"].as_str().unwrap_or("");
    let schema = range["schemaname"].as_str().unwrap_or("public");
    format!("{schema}.{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libpg_query's spans start after the previous `;`; the line is the first token's.
    #[test]
    fn a_statement_is_located_at_its_first_token_past_comments() {
        let sql = "SELECT 1;\n-- note; here\n/* block\n */\n  ALTER TABLE t\n  DROP COLUMN c;";
        let stmt = serde_json::json!({"stmt_location": 9, "stmt_len": sql.len() - 10});
        let (line, text) = locate(sql, &stmt);
        assert_eq!(line, 5);
        assert_eq!(text, "ALTER TABLE t DROP COLUMN c");
    }

    #[test]
    fn sql_that_does_not_parse_is_contract_and_versions_come_from_file_names() {
        let kind = classify(
            "ALTER;",
            &Parsed::Error("syntax error at end of input".to_owned()),
        );
        assert!(
            matches!(kind, Kind::Contract { ref reason, .. } if reason.contains("does not parse"))
        );
        assert_eq!(up_version("0004_notes.up.sql"), Some(4));
        assert_eq!(up_version("20260101_notes/up.sql"), Some(20_260_101));
        assert_eq!(up_version("0004_notes.down.sql"), None);
    }
}
