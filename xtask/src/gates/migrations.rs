//! `migrations`: every migration is reversible and leaves no trace, proven on an ephemeral
//! PostgreSQL: all up → all down (each must succeed; the schema must be back to empty) → all up
//! (schema identical to the first time); and step-wise, each migration's down restores exactly the
//! schema before its up. Released migrations (present at the last `v*` tag) must be unchanged.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::engine::gate::{Diagnostic, Gate, GateSpec, Inputs, RunCtx, Step, Verdict};

pub struct Migrations {
    spec: GateSpec,
    dir: String,
}

/// One reversible migration: `<version>_<name>.up.sql` and `.down.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: String,
    pub up: String,
    pub down: Option<String>,
}

impl Migrations {
    pub fn new(dir: &str) -> Migrations {
        let spec = GateSpec {
            name: "migrations".to_owned(),
            description: "migrations: up/down/up on an ephemeral PostgreSQL with schema diffs; released ones unchanged".to_owned(),
            version: 1,
            deps: Vec::new(),
            inputs: Inputs {
                globs: vec![format!("{dir}/**"), "gatehouse.toml".to_owned()],
                tools: vec!["postgresql".to_owned()],
                env: Vec::new(),
                facts: Vec::new(),
                files: Vec::new(),
            },
            resources: Vec::new(),
            timeout: Duration::from_secs(600),
        };
        Migrations {
            spec,
            dir: dir.to_owned(),
        }
    }
}

/// The migrations in `dir`, ordered by version; `Err` names files that do not fit the scheme.
pub fn scan(dir: &Path, rel: &str) -> Result<Vec<Migration>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| {
            format!("migrations: cannot read {rel} (set [migrations] dir in gatehouse.toml)")
        })?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    let mut out: Vec<Migration> = Vec::new();
    for name in &names {
        let Some(stem) = name.strip_suffix(".up.sql") else {
            continue;
        };
        let down = format!("{stem}.down.sql");
        out.push(Migration {
            version: stem.to_owned(),
            up: format!("{rel}/{name}"),
            down: names.contains(&down).then(|| format!("{rel}/{down}")),
        });
    }
    Ok(out)
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

impl Db<'_> {
    /// Applies one file in a single transaction; `Err` is psql's message.
    fn apply(&self, file: &str) -> Result<Result<(), String>> {
        let step = Step::new(
            "psql",
            &["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"],
        )
        .args([self.url.clone(), "-f".to_owned(), file.to_owned()])
        .tool("postgresql");
        let out = self.ctx.exec(&step)?;
        Ok(if out.success() {
            Ok(())
        } else {
            Err(out.stderr.trim().to_owned())
        })
    }

    fn schema(&self) -> Result<String> {
        let step = Step::new(
            "pg_dump",
            &["--schema-only", "--no-owner", "--no-privileges"],
        )
        .args([self.url.clone()])
        .tool("postgresql")
        .quiet_stdout();
        let out = self.ctx.exec(&step)?;
        anyhow::ensure!(out.success(), "pg_dump failed: {}", out.stderr.trim());
        Ok(normalise(&out.stdout))
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
            let Some(down) = &m.down else { continue };
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
                db.ctx.log(&crate::codegen::diff(
                    &format!("schema before {}", m.version),
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
                db.ctx.log(&crate::codegen::diff(
                    &format!("schema after {}", m.version),
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
        for m in all.iter().rev() {
            let Some(down) = &m.down else { return Ok(()) };
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
            db.ctx
                .log(&crate::codegen::diff("empty schema", &schemas[0], &empty));
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
            db.ctx.log(&crate::codegen::diff(
                "schema after every migration",
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

    /// Files present at the last `v*` tag must be byte-identical now.
    fn released(&self, ctx: &RunCtx, out: &mut Vec<Diagnostic>) -> Result<Option<String>> {
        let tag = ctx.exec(
            &Step::new(
                "git",
                &["describe", "--tags", "--abbrev=0", "--match", "v*"],
            )
            .quiet_stdout(),
        )?;
        if !tag.success() {
            return Ok(None);
        }
        let tag = tag.stdout.trim().to_owned();
        let listed = ctx.exec(
            &Step::new(
                "git",
                &["ls-tree", "-r", "--name-only", &tag, "--", &self.dir],
            )
            .quiet_stdout(),
        )?;
        for file in listed.stdout.lines().filter(|f| f.ends_with(".sql")) {
            let old =
                ctx.exec(&Step::new("git", &["show", &format!("{tag}:{file}")]).quiet_stdout())?;
            let now = std::fs::read(ctx.root.join(file)).unwrap_or_default();
            let (was, is) = (sha(old.stdout.as_bytes()), sha(&now));
            if was != is {
                let message = if now.is_empty() {
                    format!(
                        "released in {tag} and now deleted (sha256 was {was}): add a new migration instead"
                    )
                } else {
                    format!(
                        "released in {tag} and since edited: sha256 {was} then, {is} now; revert it and add a new migration"
                    )
                };
                out.push(finding(file, message));
            }
        }
        Ok(Some(tag))
    }
}

fn sha(bytes: &[u8]) -> String {
    crate::engine::cache::hex(&Sha256::digest(bytes))
}

impl Gate for Migrations {
    fn spec(&self) -> &GateSpec {
        &self.spec
    }

    fn steps(&self) -> Vec<Step> {
        vec![
            Step::new(
                "psql",
                &[
                    "<ephemeral database>",
                    "-1",
                    "-f",
                    "<each migration, up/down/up and step-wise>",
                ],
            )
            .tool("postgresql"),
            Step::new("pg_dump", &["--schema-only", "<after each step>"]).tool("postgresql"),
            Step::new("git", &["show", "<last v* tag>:<each released migration>"]),
        ]
    }

    fn run(&self, ctx: &RunCtx) -> Result<Verdict> {
        let all = scan(&ctx.root.join(&self.dir), &self.dir)?;
        if all.is_empty() {
            return Ok(Verdict::failed(format!(
                "no `*.up.sql` in {}: a gate that checks nothing has failed",
                self.dir
            )));
        }
        let mut out: Vec<Diagnostic> = all
            .iter()
            .filter(|m| m.down.is_none())
            .map(|m| {
                finding(
                    &m.up,
                    format!("no down migration: add {}/{}.down.sql", self.dir, m.version),
                )
            })
            .collect();
        let tag = self.released(ctx, &mut out)?;
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
        if out.is_empty() {
            self.round_trip(&db, &all, &schemas, &mut out)?;
        }
        let released = tag.map_or_else(
            || "no release tag yet".to_owned(),
            |t| format!("released as of {t} unchanged"),
        );
        let summary = format!(
            "{} migrations, up/down/up and step-wise; {released}",
            all.len()
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
}
