//! `plan` is what runs: every command a gate ran or started must be one of the steps its `plan`
//! shows. A value only the run knows is written in the plan as a placeholder, `<what>` (a port,
//! a run directory, a temporary file) or `{name}` (the configuration's wiring placeholders); a
//! placeholder matches any text, and a last argument `<every …>` stands for one or more
//! arguments. Paths under the root may run absolute where the plan shows them relative.

use std::path::Path;

use super::gate::Step;

/// The commands in `ran` that no step of `plan` matches, as they ran.
pub fn unplanned(plan: &[Step], ran: &[Step], root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    // `--root /w/` and `--root /w` are one root.
    let root = root.trim_end_matches('/');
    ran.iter()
        .filter(|r| {
            !plan
                .iter()
                .filter(|p| !p.in_process)
                .any(|p| step_matches(p, r, root))
        })
        .map(ToString::to_string)
        .collect()
}

fn step_matches(plan: &Step, ran: &Step, root: &str) -> bool {
    word(&plan.program, &ran.program, root)
        && args_match(&plan.args, &ran.args, root)
        && env_matches(plan, ran, root)
        && sorted(&plan.unset) == sorted(&ran.unset)
}

fn args_match(plan: &[String], ran: &[String], root: &str) -> bool {
    if let Some((last, before)) = plan.split_last()
        && last.starts_with("<every ")
        && is_placeholder(last)
    {
        return ran.len() > before.len() && before.iter().zip(ran).all(|(p, r)| word(p, r, root));
    }
    plan.len() == ran.len() && plan.iter().zip(ran).all(|(p, r)| word(p, r, root))
}

/// Every variable the plan names is set as it says; a plan entry whose name is a placeholder
/// (`<the image's Env>`) stands for any other variables, else there are none.
fn env_matches(plan: &Step, ran: &Step, root: &str) -> bool {
    let any_other = plan.env.iter().any(|(k, _)| is_placeholder(k));
    let named: Vec<&(String, String)> = plan
        .env
        .iter()
        .filter(|(k, _)| !is_placeholder(k))
        .collect();
    let value = |key: &str| ran.env.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    named
        .iter()
        .all(|(k, pattern)| value(k).is_some_and(|v| word(pattern, v, root)))
        && (any_other
            || ran
                .env
                .iter()
                .all(|(k, _)| named.iter().any(|(n, _)| n == k)))
}

fn is_placeholder(word: &str) -> bool {
    word.starts_with('<') && word.ends_with('>')
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

/// `ran` as it is, or with the root written `.`, matches the pattern `plan`.
fn word(plan: &str, ran: &str, root: &str) -> bool {
    let pattern = parts(plan);
    let relative = || {
        if ran == root {
            ".".to_owned()
        } else {
            ran.replace(&format!("{root}/"), "./")
        }
    };
    glob(&pattern, ran) || (!root.is_empty() && glob(&pattern, &relative()))
}

/// A pattern: literal text, with `None` for each placeholder.
fn parts(pattern: &str) -> Vec<Option<&str>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some((start, end)) = next_placeholder(rest) {
        if start > 0 {
            out.push(Some(&rest[..start]));
        }
        out.push(None);
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Some(rest));
    }
    out
}

/// The byte range of the first `<what>` or `{name}` placeholder in `text`.
fn next_placeholder(text: &str) -> Option<(usize, usize)> {
    let angle = text.find('<').and_then(|s| {
        let len = text[s..].find('>')?;
        (len > 1).then_some((s, s + len + 1))
    });
    let brace = text.find('{').and_then(|s| {
        let len = text[s..].find('}')?;
        let name = &text[s + 1..s + len];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then_some((s, s + len + 1))
    });
    match (angle, brace) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Whether `text` is the literals of `pattern` in order, placeholders matching any text.
fn glob(pattern: &[Option<&str>], text: &str) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((Some(literal), rest)) => text
            .strip_prefix(literal)
            .is_some_and(|tail| glob(rest, tail)),
        Some((None, rest)) => text
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(text.len()))
            .any(|i| glob(rest, &text[i..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(program: &str, args: &[&str]) -> Step {
        Step::new(program, args)
    }

    #[test]
    fn a_command_the_plan_shows_passes_and_any_other_is_named() {
        let plan = [
            step("git", &["ls-files", "-z"]),
            step("psql", &["<ephemeral database>", "-f", "<each migration>"]),
            step("detect-secrets-hook", &["--baseline", "b", "<every file>"]),
            Step::in_process("signs the image"),
        ];
        let ran = [
            step("git", &["ls-files", "-z"]),
            step("psql", &["postgres://h:1/d", "-f", "/r/m/1.up.sql"]),
            step("detect-secrets-hook", &["--baseline", "b", "x", "y"]),
            step("git", &["show", "v1:./m/1.up.sql"]),
            step("detect-secrets-hook", &["--baseline", "b"]),
            step("signs the image", &[]),
        ];
        assert_eq!(
            unplanned(&plan, &ran, Path::new("/r")),
            [
                "git show v1:./m/1.up.sql",
                "detect-secrets-hook --baseline b",
                "'signs the image'",
            ]
        );
    }

    #[test]
    fn placeholders_match_any_text_and_only_that() {
        assert!(word(
            "<service>/openapi.json",
            "http://h:1/openapi.json",
            ""
        ));
        assert!(!word(
            "<service>/openapi.json",
            "http://h:1/openapi.yaml",
            ""
        ));
        assert!(word("a={database_url}&b", "a=postgres://x&b", ""));
        assert!(!word("{Not a placeholder}", "x", ""));
        assert!(word("./target/release/app", "/r/target/release/app", "/r"));
        let plan = [step("./target/release/app", &["serve"])];
        let ran = [step("/r/target/release/app", &["serve"])];
        assert!(
            unplanned(&plan, &ran, Path::new("/r/")).is_empty(),
            "a root given with a trailing slash"
        );
        assert!(!word(
            "./target/release/app",
            "/elsewhere/target/release/app",
            "/r"
        ));
    }

    #[test]
    fn environment_and_removed_variables_are_part_of_the_command() {
        let plan = [step("cargo", &["build"]).env("A", "{listen}").unset("B")];
        let good = step("cargo", &["build"]).env("A", "127.0.0.1:9").unset("B");
        let other_env = step("cargo", &["build"]).env("C", "1").unset("B");
        let kept = step("cargo", &["build"]).env("A", "127.0.0.1:9");
        let root = Path::new("/r");
        assert!(unplanned(&plan, std::slice::from_ref(&good), root).is_empty());
        assert_eq!(unplanned(&plan, &[other_env, kept], root).len(), 2);
        let open = [step("cargo", &["build"])
            .env("A", "{listen}")
            .env("<the image's Env>", "")
            .unset("B")];
        let more = good.clone().env("C", "1");
        let without_a = step("cargo", &["build"]).env("C", "1").unset("B");
        assert!(unplanned(&open, &[good, more], root).is_empty());
        assert_eq!(unplanned(&open, &[without_a], root).len(), 1);
    }
}
