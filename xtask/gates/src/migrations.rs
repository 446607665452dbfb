//! `migrations`: every migration is reversible and leaves no trace, proven on an ephemeral
//! PostgreSQL: all up → all down (each must succeed; the schema must be back to empty) → all up
//! (schema identical to the first time); and step-wise, each migration's down restores exactly the
//! schema before its up. Released migrations (present at the last `v*` tag) must be unchanged.
//! Every up is linted with squawk for operations unsafe on a live database; rules and allowances
//! live in the repo's squawk configuration (`[migrations] lint_config`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::config::MigrationsDef;
use crate::engine::gate::{Diagnostic, Gate, GateSpec, GitInput, Inputs, RunCtx, Step, Verdict};

pub struct Migrations {
    spec: GateSpec,
    dir: String,
    lint_config: String,
}

/// One reversible migration (either layout of [`gatehouse_engine::migrations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `<version>_<name>`.
    pub version: String,
    pub up: String,
    pub down: Option<String>,
    /// Where the down migration belongs.
    pub down_path: String,
}

impl Migrations {
    pub fn new(def: &MigrationsDef) -> Migrations {
        let dir = &def.dir;
        // Which migrations are released depends on the tags (and on a clone being complete).
        let spec = GateSpec {
            name: "migrations".to_owned(),
            description: "migrations: up/down/up on an ephemeral PostgreSQL with schema diffs; released ones unchanged".to_owned(),
            version: 2,
            deps: Vec::new(),
            inputs: Inputs {
                globs: vec![
                    format!("{dir}/**"),
                    def.lint_config.clone(),
                    "gatehouse.toml".to_owned(),
                ],
                tools: vec!["postgresql".to_owned(), "squawk".to_owned()],
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
                rust: false,
                git: vec![GitInput::Tags],
            },
            resources: Vec::new(),
            timeout: Duration::from_secs(600),
        };
        Migrations {
            spec,
            dir: dir.to_owned(),
            lint_config: def.lint_config.clone(),
        }
    }
}

/// The migrations in `dir`, ordered by version; `Err` names files that do not fit the scheme.
pub fn scan(dir: &Path, rel: &str) -> Result<Vec<Migration>> {
    let found = gatehouse_engine::migrations::scan(dir).with_context(|| {
        format!("migrations: cannot read {rel} (set [migrations] dir in gatehouse.toml)")
    })?;
    Ok(found
        .into_iter()
        .map(|e| Migration {
            version: e.stem,
            up: format!("{rel}/{}", e.up),
            down: e.has_down.then(|| format!("{rel}/{}", e.down)),
            down_path: format!("{rel}/{}", e.down),
        })
        .collect())
}

/// `pg_dump --schema-only` without comments, settings and blank lines.
pub fn normalise(dump: &str) -> String {
    dump.lines()
        .filter(|l| {
            let t = l.trim();
            !(t.is_empty()
                || t.starts_with("--")
                || t.starts_with("SET ")
                || t.starts_with("SELECT pg_catalog.set_config")
                || t.starts_with("\\restrict")
                || t.starts_with("\\unrestrict"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

struct Db<'a> {
    ctx: &'a RunCtx,
    url: String,
}

/// `psql` applying one file in one transaction: what `run` executes and `plan` shows.
fn apply_step(url: &str, file: &str) -> Step {
    Step::new(
        "psql",
        &["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"],
    )
    .args([url.to_owned(), "-f".to_owned(), file.to_owned()])
    .tool("postgresql")
}

/// The schema with its owners, privileges (grants, default privileges) and comments.
fn dump_step(url: &str) -> Step {
    Step::new("pg_dump", &["--schema-only", url])
        .tool("postgresql")
        .quiet_stdout()
}

/// What a database user can observe beside the schema dump, one labelled line per fact: a down
/// must restore these too (docs/gates.md). Row values are not compared, only their number per
/// table: running an up again may draw new ids from a sequence.
const OBSERVED: [(&str, &str); 5] = [
    (
        "rows",
        "SELECT format('%I.%I %s', n.nspname, c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast' ORDER BY 1",
    ),
    (
        "role",
        "SELECT rolname || ' ' || concat_ws(',', CASE WHEN rolsuper THEN 'superuser' END, CASE WHEN rolcanlogin THEN 'login' END, CASE WHEN rolcreaterole THEN 'createrole' END, CASE WHEN rolcreatedb THEN 'createdb' END, CASE WHEN rolreplication THEN 'replication' END, CASE WHEN rolbypassrls THEN 'bypassrls' END, CASE WHEN NOT rolinherit THEN 'noinherit' END, 'connlimit=' || rolconnlimit) FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1",
    ),
    (
        "membership",
        "SELECT r.rolname || ' in ' || g.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname !~ '^pg_' ORDER BY 1",
    ),
    (
        "setting",
        "SELECT coalesce(d.datname, '*') || ' ' || coalesce(r.rolname, '*') || ' ' || array_to_string(s.setconfig, ',') FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole ORDER BY 1",
    ),
    (
        "extension",
        "SELECT extname || ' ' || extversion FROM pg_extension ORDER BY 1",
    ),
];

/// Every [`OBSERVED`] fact as `<label>: <line>`, in one query: sections in order, lines sorted.
fn observed_sql() -> String {
    let parts: Vec<String> = OBSERVED
        .iter()
        .enumerate()
        .map(|(n, (label, sql))| {
            format!("SELECT {n} AS n, '{label}: ' || line AS fact FROM ({sql}) AS q(line)")
        })
        .collect();
    format!(
        "SELECT fact FROM ({}) AS observed ORDER BY n, fact",
        parts.join(" UNION ALL ")
    )
}

fn query_step(url: &str, sql: &str) -> Step {
    Step::new("psql", &["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args([url.to_owned(), "-c".to_owned(), sql.to_owned()])
        .tool("postgresql")
        .quiet_stdout()
}

/// squawk over every up (downs undo by design: dropping is their job).
fn lint_step(config: Option<&str>, ups: &[String]) -> Step {
    let mut step = Step::new("squawk", &["--reporter", "json"]).tool("squawk");
    if let Some(config) = config {
        step = step.args(["--config".to_owned(), config.to_owned()]);
    }
    step.args(ups.iter().cloned()).quiet_stdout()
}

/// One finding of squawk's JSON reporter (its lines count from 0).
#[derive(serde::Deserialize)]
struct LintFinding {
    file: String,
    line: u32,
    message: String,
    help: Option<String>,
    rule_name: String,
}

/// squawk's findings as diagnostics at `file:line`, each naming its rule and the remedy.
pub fn lint_findings(json: &str) -> Result<Vec<Diagnostic>> {
    let findings: Vec<LintFinding> =
        serde_json::from_str(json).context("squawk's JSON report did not parse")?;
    Ok(findings
        .into_iter()
        .map(|f| {
            let help = f.help.map(|h| format!(" {h}")).unwrap_or_default();
            Diagnostic {
                file: f.file,
                line: f.line + 1,
                level: "error".to_owned(),
                message: format!(
                    "{}: {}{help} (allow one statement with `-- squawk-ignore {}` above it)",
                    f.rule_name, f.message, f.rule_name
                ),
            }
        })
        .collect())
}

fn git(args: &[&str]) -> Step {
    Step::new("git", args).quiet_stdout()
}

/// The files under `dir` changed or deleted since `tag`, working tree included.
fn changed_since_step(tag: &str, dir: &str) -> Step {
    git(&[
        "diff",
        "--no-renames",
        "--relative",
        "--name-status",
        tag,
        "--",
        dir,
    ])
}

impl Db<'_> {
    /// Applies one file in a single transaction; `Err` is psql's message.
    fn apply(&self, file: &str) -> Result<Result<(), String>> {
        let out = self.ctx.exec(&apply_step(&self.url, file))?;
        Ok(if out.success() {
            Ok(())
        } else {
            Err(out.stderr.trim().to_owned())
        })
    }

    /// The schema dump, then every [`OBSERVED`] fact as `<label>: <line>`.
    fn schema(&self) -> Result<String> {
        let out = self.ctx.exec(&dump_step(&self.url))?;
        anyhow::ensure!(out.success(), "pg_dump failed: {}", out.stderr.trim());
        let mut state = normalise(&out.stdout);
        let observed = self.ctx.exec(&query_step(&self.url, &observed_sql()))?;
        anyhow::ensure!(
            observed.success(),
            "reading the database's rows, roles, settings and extensions failed: {}",
            observed.stderr.trim()
        );
        for line in observed.stdout.lines().filter(|l| !l.trim().is_empty()) {
            state.push_str(line);
            state.push('\n');
        }
        Ok(state)
    }
}

fn finding(file: &str, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: 1,
        level: "error".to_owned(),
        message,
    }
}

/// The first differing lines, for a one-line message (the full diff goes to the log).
fn differing(expected: &str, got: &str) -> String {
    let mut lines: Vec<String> = similar::TextDiff::from_lines(expected, got)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| format!("{}{}", c.tag(), c.value().trim()))
        .take(3)
        .collect();
    if lines.is_empty() {
        lines.push("(no difference)".to_owned());
    }
    lines.join(" | ")
}

impl Migrations {
    /// Step-wise from empty: up k (→ S_k), down k (must give S_{k-1}), up k again (must give S_k).
    fn stepwise(
        &self,
        db: &Db<'_>,
        all: &[Migration],
        out: &mut Vec<Diagnostic>,
    ) -> Result<Vec<String>> {
        let mut schemas = vec![db.schema()?];
        for m in all {
            if let Err(e) = db.apply(&m.up)? {
                out.push(finding(
                    &m.up,
                    format!("up failed on the schema of every earlier migration: {e}"),
                ));
                return Ok(schemas);
            }
            let after = db.schema()?;
            let Some(down) = &m.down else {
                schemas.push(after); // reported already; the next migration builds on this one
                continue;
            };
            if let Err(e) = db.apply(down)? {
                out.push(finding(
                    down,
                    format!("down failed right after its up: {e}"),
                ));
                return Ok(schemas);
            }
            let before = schemas.last().cloned().unwrap_or_default();
            let restored = db.schema()?;
            if restored != before {
                db.ctx.log(&unified(
                    &format!("schema before {}", m.version),
                    &format!("schema after {} down", m.version),
                    &before,
                    &restored,
                ));
                out.push(finding(
                    down,
                    format!(
                        "down does not restore the schema before {}: {}",
                        m.version,
                        differing(&before, &restored)
                    ),
                ));
            }
            if let Err(e) = db.apply(&m.up)? {
                out.push(finding(&m.up, format!("up failed after its own down: {e}")));
                return Ok(schemas);
            }
            let again = db.schema()?;
            if again != after {
                db.ctx.log(&unified(
                    &format!("schema after {} up", m.version),
                    &format!("schema after {} up, down, up", m.version),
                    &after,
                    &again,
                ));
                out.push(finding(
                    &m.up,
                    format!(
                        "up, down, up gives a different schema: {}",
                        differing(&after, &again)
                    ),
                ));
            }
            schemas.push(after);
        }
        Ok(schemas)
    }

    /// All down (each must succeed, ending at the empty schema), then all up (same schema as before).
    fn round_trip(
        &self,
        db: &Db<'_>,
        all: &[Migration],
        schemas: &[String],
        out: &mut Vec<Diagnostic>,
    ) -> Result<()> {
        let full = schemas.last().cloned().unwrap_or_default();
        // Called only when every migration has a down.
        for down in all.iter().rev().filter_map(|m| m.down.as_ref()) {
            if let Err(e) = db.apply(down)? {
                out.push(finding(
                    down,
                    format!("down failed while reverting everything: {e}"),
                ));
                return Ok(());
            }
        }
        let empty = db.schema()?;
        if empty != schemas[0] {
            db.ctx.log(&unified(
                "schema before any migration",
                "schema after every down",
                &schemas[0],
                &empty,
            ));
            out.push(finding(
                &self.dir,
                format!(
                    "reverting every migration leaves objects behind: {}",
                    differing(&schemas[0], &empty)
                ),
            ));
        }
        for m in all {
            if let Err(e) = db.apply(&m.up)? {
                out.push(finding(&m.up, format!("up failed on the second pass: {e}")));
                return Ok(());
            }
        }
        let again = db.schema()?;
        if again != full {
            db.ctx.log(&unified(
                "schema after the first pass",
                "schema after down to zero and up again",
                &full,
                &again,
            ));
            out.push(finding(
                &self.dir,
                format!(
                    "up/down/up gives a different schema: {}",
                    differing(&full, &again)
                ),
            ));
        }
        Ok(())
    }

    /// squawk's findings on every up; `Err` when squawk itself could not run.
    fn lint(&self, ctx: &RunCtx, all: &[Migration]) -> Result<Vec<Diagnostic>> {
        let ups: Vec<String> = all.iter().map(|m| m.up.clone()).collect();
        let config = ctx
            .root
            .join(&self.lint_config)
            .is_file()
            .then_some(self.lint_config.as_str());
        let run = ctx.exec(&lint_step(config, &ups))?;
        let findings = lint_findings(&run.stdout).with_context(|| {
            format!(
                "squawk failed (exit {}): {}",
                crate::engine::gate::code(&run),
                run.stderr.trim()
            )
        })?;
        anyhow::ensure!(
            run.success() || !findings.is_empty(),
            "squawk failed without findings: {}",
            run.stderr.trim()
        );
        Ok(findings)
    }

    /// Files present at the last `v*` tag must be byte-identical now.
    fn released(&self, ctx: &RunCtx, out: &mut Vec<Diagnostic>) -> Result<Option<String>> {
        let shallow = ctx.exec(&git(&["rev-parse", "--is-shallow-repository"]))?;
        if shallow.stdout.trim() == "true" {
            out.push(finding(&self.dir, "a shallow clone cannot show which migrations were released: run `git fetch --unshallow --tags` (actions/checkout: `fetch-depth: 0`)".to_owned()));
            return Ok(None);
        }
        let tag = ctx.exec(&git(&["describe", "--tags", "--abbrev=0", "--match", "v*"]))?;
        if !tag.success() {
            return Ok(None);
        }
        let tag = tag.stdout.trim().to_owned();
        let changed = ctx.exec(&changed_since_step(&tag, &self.dir))?;
        anyhow::ensure!(
            changed.success(),
            "`git diff {tag}` failed: {}",
            changed.stderr.trim()
        );
        for line in changed.stdout.lines() {
            let Some((kind, file)) = line.split_once('\t') else {
                continue;
            };
            if kind == "A" || !file.ends_with(".sql") {
                continue;
            }
            let old = ctx.exec(&git(&["show", &format!("{tag}:./{file}")]))?;
            let was = sha(old.stdout.as_bytes());
            let message = match std::fs::read(ctx.root.join(file)) {
                Ok(now) => format!(
                    "released in {tag} and since edited: sha256 {was} then, {} now; revert it and add a new migration",
                    sha(&now)
                ),
                Err(_) => format!(
                    "released in {tag} and now deleted (sha256 was {was}): add a new migration instead"
                ),
            };
            out.push(finding(file, message));
        }
        Ok(Some(tag))
    }
}

/// A unified diff between two schemas, each side labelled.
fn unified(from: &str, to: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(from, to)
        .to_string()
}

fn sha(bytes: &[u8]) -> String {
    crate::engine::cache::hex(&Sha256::digest(bytes))
}

impl Gate for Migrations {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        let url = "<ephemeral database>";
        vec![
            lint_step(
                Some(&self.lint_config),
                &[format!("<every up migration in {}>", self.dir)],
            ),
            git(&["rev-parse", "--is-shallow-repository"]),
            git(&["describe", "--tags", "--abbrev=0", "--match", "v*"]),
            changed_since_step("<last v* tag>", &self.dir),
            git(&[
                "show",
                "<last v* tag>:./<each released migration changed since>",
            ]),
            Step::in_process(
                "an ephemeral PostgreSQL (initdb, postgres on loopback) for the up/down/up runs",
            ),
            apply_step(
                url,
                "<each migration: step-wise up, down, up; then all down, all up>",
            ),
            dump_step(url),
            query_step(url, &observed_sql()),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let all = scan(&ctx.root.join(&self.dir), &self.dir)?;
        if all.is_empty() {
            return Ok(Verdict::failed(format!(
                "no migration in {} (`<version>_<name>.up.sql` or `<version>_<name>/up.sql`): a gate that checks nothing has failed",
                self.dir
            )));
        }
        let mut out: Vec<Diagnostic> = all
            .iter()
            .filter(|m| m.down.is_none())
            .map(|m| finding(&m.up, format!("no down migration: add {}", m.down_path)))
            .collect();
        let lint = self.lint(ctx, &all)?;
        let unsafe_ops = lint.len();
        out.extend(lint);
        let before_release_check = out.len();
        let tag = self.released(ctx, &mut out)?;
        let release_findings = out.len() - before_release_check;
        ctx.toolbox
            .ensure("postgresql", &ctx.cancel, &|l| ctx.log(l))?;
        let pg = launcher::Postgres::ephemeral()
            .context("migrations: cannot start an ephemeral PostgreSQL")?;
        pg.create_database("migrations")?;
        let db = Db {
            ctx,
            url: pg.url("migrations"),
        };
        let schemas = self.stepwise(&db, &all, &mut out)?;
        let every_step_ran = schemas.len() == all.len() + 1;
        if every_step_ran && all.iter().all(|m| m.down.is_some()) {
            self.round_trip(&db, &all, &schemas, &mut out)?;
        }
        let released = match tag {
            None => "no release tag yet".to_owned(),
            Some(t) if release_findings == 0 => format!("released as of {t} unchanged"),
            Some(t) => format!("{release_findings} released as of {t} changed"),
        };
        let summary = format!(
            "{} migrations, up/down/up and step-wise; {released}; {}",
            all.len(),
            match unsafe_ops {
                0 => "squawk: no unsafe operation".to_owned(),
                n => format!("squawk: {n} finding(s)"),
            }
        );
        if out.is_empty() {
            return Ok(Verdict::passed(Some(summary)));
        }
        let reason = format!("{} problem(s): {}", out.len(), out[0].message);
        Ok(Verdict {
            diagnostics: out,
            ..Verdict::failed(reason)
        }
        .with_summary(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumps_are_compared_without_noise() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\\restrict abc\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\nCREATE TABLE public.t (\n    id integer\n);\n\\unrestrict abc\n";
        assert_eq!(
            normalise(dump),
            "CREATE TABLE public.t (\n    id integer\n);\n"
        );
    }

    #[test]
    fn migrations_pair_up_and_down_by_version() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "0001_a.up.sql",
            "0001_a.down.sql",
            "0002_b.up.sql",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let all = scan(dir.path(), "m").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].down.as_deref(), Some("m/0001_a.down.sql"));
        assert_eq!(all[1].down, None);
    }

    #[test]
    fn squawk_findings_point_at_one_based_lines_with_rule_and_remedy() {
        let json = r#"[{"file":"m/0002_b.up.sql","line":4,"column":0,"level":"Warning","message":"Index blocks writes.","help":"Use `concurrently`.","rule_name":"require-concurrent-index-creation","column_end":3,"line_end":4}]"#;
        let found = lint_findings(json).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].file.as_str(), found[0].line),
            ("m/0002_b.up.sql", 5)
        );
        assert!(found[0].message.starts_with(
            "require-concurrent-index-creation: Index blocks writes. Use `concurrently`."
        ));
        assert!(lint_findings("Configuration error").is_err());
    }
}
