//! One verdict from a fanned-out pipeline: the reports of its groups' jobs (`cargo xtask ci
//! --group NAME`, pipeline `ci/NAME`) merged into the pipeline's report. A gate no report ran
//! fails, so a job that crashed before writing its report fails the pipeline too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::gate::Status;
use super::report::{GateResult, Outcome, Report, SCHEMA};
use crate::config::{FILE, Pipeline};
use crate::exit::Failure;

/// Every `report.json` at or under `paths` (a file, or a directory searched recursively: the
/// artifacts a workflow downloaded).
pub fn find_reports(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_file() {
            found.push(path.clone());
            continue;
        }
        anyhow::ensure!(
            path.is_dir(),
            "{}: no such report or directory",
            path.display()
        );
        collect(path, &mut found)?;
    }
    found.sort();
    Ok(found)
}

fn collect(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        // `latest` links to a run already listed.
        if entry.file_type()?.is_symlink() {
            continue;
        }
        if path.is_dir() {
            collect(&path, found)?;
        } else if path.file_name().is_some_and(|n| n == "report.json") {
            found.push(path);
        }
    }
    Ok(())
}

/// Reads `path` as a run report.
pub fn read(path: &Path) -> Result<Report> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let report: Report = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a gatehouse run report", path.display()))?;
    anyhow::ensure!(
        report.schema == SCHEMA,
        "{}: schema {} (this gatehouse reads {SCHEMA})",
        path.display(),
        report.schema
    );
    Ok(report)
}

/// The report of pipeline `name` from its groups' `reports` (others are ignored). Each gate's
/// result comes from the group that owns it (a dependency another group ran too counts only
/// there); a gate of the pipeline that no report holds has failed.
pub fn merge(
    name: &str,
    pipeline: &Pipeline,
    reports: &[Report],
    run_id: String,
) -> Result<Report> {
    let mut ours: Vec<&Report> = reports
        .iter()
        .filter(|r| {
            r.pipeline
                .strip_prefix(name)
                .is_some_and(|g| g.starts_with('/'))
        })
        .collect();
    // Of several runs of one group the newest counts (run ids begin with their start time).
    ours.sort_by(|a, b| b.run_id.cmp(&a.run_id));
    if ours.is_empty() {
        return Err(Failure::Usage(format!(
            "no report of a `{name} --group` run among the {} given: pass the downloaded report directories",
            reports.len()
        ))
        .into());
    }
    let commits: BTreeSet<Option<&String>> = ours.iter().map(|r| r.commit.as_ref()).collect();
    if commits.len() > 1 {
        return Err(Failure::Usage(format!(
            "the reports are of different commits ({}): merge the jobs of one workflow run",
            commits
                .iter()
                .map(|c| c.map_or("none", String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    let owner: BTreeMap<&str, &str> = pipeline
        .groups
        .iter()
        .flat_map(|g| {
            g.gates
                .iter()
                .map(move |gate| (gate.as_str(), g.name.as_str()))
        })
        .collect();
    let gates = pipeline
        .gates
        .iter()
        .map(|gate| result_of(name, gate, owner.get(gate.as_str()).copied(), &ours))
        .collect::<Vec<_>>();
    let required_skips: Vec<String> = ours
        .iter()
        .flat_map(|r| r.required_skips.iter().cloned())
        .filter(|g| pipeline.gates.contains(g))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let interrupted = ours.iter().any(|r| r.outcome == Outcome::Interrupted);
    let outcome = super::runner::outcome(&gates, &required_skips, interrupted);
    let mut report = Report {
        schema: SCHEMA.to_owned(),
        run_id,
        pipeline: name.to_owned(),
        started_at: ours
            .iter()
            .map(|r| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        duration_ms: ours.iter().map(|r| r.duration_ms).max().unwrap_or(0),
        gates_duration_ms: gates.iter().map(|g| g.duration_ms).sum(),
        outcome,
        exit_code: 0,
        gates,
        required_skips,
        commit: ours[0].commit.clone(),
        dirty: ours.iter().any(|r| r.dirty),
        tools: ours.iter().flat_map(|r| r.tools.clone()).collect(),
        compile_cache: compile_cache(&ours),
    };
    report.exit_code = super::runner::exit_code(&report) as u8;
    Ok(report)
}

/// The jobs' compile-cache counts added up (`None` when no job used it).
fn compile_cache(reports: &[&Report]) -> Option<crate::compile_cache::Stats> {
    reports
        .iter()
        .filter_map(|r| r.compile_cache.clone())
        .reduce(|mut all, s| {
            all.hits += s.hits;
            all.misses += s.misses;
            all.not_cacheable += s.not_cacheable;
            all.errors += s.errors;
            all
        })
}

/// `gate`'s result: from its group's report, else any report that ran it, else a failure
/// naming the job that should have.
fn result_of(name: &str, gate: &str, group: Option<&str>, reports: &[&Report]) -> GateResult {
    let from = |r: &&Report| r.gates.iter().find(|g| g.name == gate).cloned();
    let own = group.and_then(|group| {
        reports
            .iter()
            .filter(|r| r.pipeline == format!("{name}/{group}"))
            .find_map(from)
    });
    own.or_else(|| reports.iter().find_map(from))
        .unwrap_or_else(|| GateResult {
            name: gate.to_owned(),
            description: String::new(),
            status: Status::Failed,
            required: true,
            duration_ms: 0,
            log: PathBuf::new(),
            reason: Some(format!(
                "no report holds it: the job of group `{}` wrote none (see that job's log), or its group is missing from [[pipelines.{name}.groups]] in {FILE}",
                group.unwrap_or("?")
            )),
            summary: None,
            diagnostics: Vec::new(),
            cache_key: None,
            missing_tool: false,
            binary_sha256: None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Group;
    use crate::exit::Exit;

    fn gate(name: &str, status: Status) -> GateResult {
        GateResult {
            name: name.to_owned(),
            description: String::new(),
            status,
            required: true,
            duration_ms: 10,
            log: PathBuf::from(format!("gates/{name}.log")),
            reason: None,
            summary: None,
            diagnostics: Vec::new(),
            cache_key: None,
            missing_tool: false,
            binary_sha256: None,
        }
    }

    fn report(pipeline: &str, gates: Vec<GateResult>) -> Report {
        Report {
            schema: SCHEMA.to_owned(),
            run_id: pipeline.replace('/', "-"),
            pipeline: pipeline.to_owned(),
            started_at: "2026-12-02T10:00:00Z".to_owned(),
            duration_ms: 100,
            gates_duration_ms: 10,
            outcome: Outcome::Passed,
            exit_code: 0,
            gates,
            required_skips: Vec::new(),
            commit: Some("abc".to_owned()),
            dirty: false,
            tools: BTreeMap::new(),
            compile_cache: None,
        }
    }

    fn pipeline() -> Pipeline {
        Pipeline {
            description: String::new(),
            gates: vec!["fmt".to_owned(), "clippy".to_owned(), "test".to_owned()],
            optional: Vec::new(),
            groups: vec![
                Group {
                    name: "lint".to_owned(),
                    gates: vec!["fmt".to_owned(), "clippy".to_owned()],
                },
                Group {
                    name: "tests".to_owned(),
                    gates: vec!["test".to_owned()],
                },
            ],
        }
    }

    #[test]
    fn each_gate_comes_from_its_own_groups_report_and_a_missing_job_fails() {
        let lint = report(
            "ci/lint",
            vec![gate("fmt", Status::Passed), gate("clippy", Status::Passed)],
        );
        // The tests job ran clippy too (a dependency) and it was cached there.
        let tests = report(
            "ci/tests",
            vec![gate("clippy", Status::Cached), gate("test", Status::Passed)],
        );
        let merged = merge("ci", &pipeline(), &[lint.clone(), tests], "m".to_owned()).unwrap();
        assert_eq!(merged.outcome, Outcome::Passed);
        assert_eq!(merged.pipeline, "ci");
        let statuses: Vec<(String, Status)> = merged
            .gates
            .iter()
            .map(|g| (g.name.clone(), g.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("fmt".to_owned(), Status::Passed),
                ("clippy".to_owned(), Status::Passed),
                ("test".to_owned(), Status::Passed)
            ]
        );

        let alone = merge("ci", &pipeline(), &[lint], "m".to_owned()).unwrap();
        assert_eq!(alone.outcome, Outcome::Failed);
        assert_eq!(alone.exit_code, Exit::GateFailed as u8);
        let test = alone.gates.iter().find(|g| g.name == "test").unwrap();
        assert!(
            test.reason
                .as_deref()
                .unwrap()
                .contains("group `tests` wrote none"),
            "{test:?}"
        );
    }

    #[test]
    fn reports_of_two_commits_or_no_group_report_are_refused() {
        let lint = report("ci/lint", vec![gate("fmt", Status::Passed)]);
        let mut other = report("ci/tests", vec![gate("test", Status::Passed)]);
        other.commit = Some("def".to_owned());
        let err = merge("ci", &pipeline(), &[lint, other], "m".to_owned()).unwrap_err();
        assert!(format!("{err}").contains("different commits"), "{err}");
        let whole = report("ci", vec![gate("fmt", Status::Passed)]);
        let err = merge("ci", &pipeline(), &[whole], "m".to_owned()).unwrap_err();
        assert!(
            format!("{err}").contains("no report of a `ci --group` run"),
            "{err}"
        );
    }
}
