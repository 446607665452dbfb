//! The service's Helm chart: the arguments every helm call shares (one place for the digest
//! and the values files), and its generated `values.schema.json`.
//!
//! The schema's `config` and `secrets` sections come from the service's own list of settings
//! (`[chart] variables`, e.g. `app config-docs json`), so a misspelled setting, a secret put in
//! plain `config`, a missing required secret or an image by tag fails `helm lint` and
//! `helm template` before anything reaches a cluster.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

use super::env::Environment;
use crate::config::ChartDef;
use crate::engine::gate::{RunCtx, Step, code};

/// A digest no registry holds: what the chart is rendered with when no release is named.
pub const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// A helm step with its state directories under `target/` (helm writes nothing in `$HOME`).
pub fn helm(root: &Path, args: Vec<String>) -> Step {
    let home = crate::layout::Layout::of(root).helm();
    let home = home.to_string_lossy();
    Step::new("helm", &[])
        .tool("helm")
        .args(args)
        .env("HELM_CACHE_HOME", &format!("{home}/cache"))
        .env("HELM_CONFIG_HOME", &format!("{home}/config"))
        .env("HELM_DATA_HOME", &format!("{home}/data"))
}

/// `helm template` of the chart for `env`: the manifests a promotion would apply, hooks included.
pub fn render(
    ctx: &RunCtx,
    def: &ChartDef,
    env: &Environment,
    repository: &str,
    digest: &str,
) -> Result<String> {
    let out = ctx.exec(&template_step(&ctx.root, def, env, repository, digest)?)?;
    if !out.success() {
        anyhow::bail!(
            "helm template of {} for {} failed ({}): {}",
            def.dir,
            env.name,
            code(&out),
            out.stderr.trim()
        );
    }
    Ok(out.stdout)
}

/// The `helm template` [`render`] runs.
pub fn template_step(
    root: &Path,
    def: &ChartDef,
    env: &Environment,
    repository: &str,
    digest: &str,
) -> Result<Step> {
    let k = env.kubernetes()?;
    let mut args = vec!["template".to_owned(), k.release.clone(), def.dir.clone()];
    args.extend(helm_args(env, repository, digest, PLACEHOLDER_VERSION)?);
    args.extend(["--kube-version".to_owned(), def.kubernetes.clone()]);
    Ok(helm(root, args).quiet_stdout())
}

/// The kubernetes environments deploying this chart.
pub fn environments(root: &Path, def: &ChartDef) -> Result<Vec<Environment>> {
    let mut out = Vec::new();
    for name in super::env::names(root) {
        let env = Environment::load(root, &name)?;
        if env.kubernetes().is_ok_and(|k| k.chart == def.dir) {
            out.push(env);
        }
    }
    Ok(out)
}

/// One setting the service reads, as `[chart] variables` prints it.
#[derive(Debug, Deserialize)]
pub struct Variable {
    pub name: String,
    pub default: Option<String>,
    pub secret: bool,
    pub description: String,
}

/// Parses the settings list; `source` names the command for errors.
pub fn variables(json: &str, source: &str) -> Result<Vec<Variable>> {
    serde_json::from_str(json).with_context(|| {
        format!("{source} did not print a JSON list of {{name, default, secret, description}}")
    })
}

/// The helm arguments after `<release> <chart>` for a kubernetes environment: namespace,
/// values files, and the image by digest.
/// `version` as a Kubernetes label value (what the pods' `app.kubernetes.io/version` and so the
/// judged series carry): at most 63 of `[A-Za-z0-9._-]`, others as `_`, alphanumeric at both ends.
pub fn label_value(version: &str) -> String {
    let mapped: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The release's version when the chart is only rendered (the `chart` gate).
pub const PLACEHOLDER_VERSION: &str = "0.0.0";

pub fn helm_args(
    env: &Environment,
    repository: &str,
    digest: &str,
    version: &str,
) -> Result<Vec<String>> {
    let k = env.kubernetes()?;
    let mut args = vec!["--namespace".to_owned(), k.namespace.clone()];
    for v in &k.values {
        args.extend(["--values".to_owned(), v.clone()]);
    }
    args.extend([
        "--set".to_owned(),
        format!("image.repository={repository}"),
        "--set".to_owned(),
        format!("image.digest={digest}"),
        "--set-string".to_owned(),
        format!("image.version={}", label_value(version)),
    ]);
    Ok(args)
}

/// `values.schema.json` for the chart: its fixed shape plus one property per setting.
/// `owned` settings are set by the chart itself (e.g. the listeners) and refused in `config`.
pub fn values_schema(variables: &[Variable], owned: &[String]) -> Value {
    let plain = variables
        .iter()
        .filter(|v| !v.secret && !owned.contains(&v.name));
    let config: serde_json::Map<String, Value> = plain
        .map(|v| {
            let mut prop = json!({
                "type": ["string", "number", "boolean"],
                "description": v.description,
            });
            if let Some(default) = &v.default {
                prop["default"] = json!(default);
            }
            (v.name.clone(), prop)
        })
        .collect();
    let secret: Vec<&Variable> = variables.iter().filter(|v| v.secret).collect();
    let keys: serde_json::Map<String, Value> = secret
        .iter()
        .map(|v| {
            let prop = json!({
                "type": "string",
                "minLength": 1,
                "description": format!("key in the Secret holding {}: {}", v.name, v.description),
            });
            (v.name.clone(), prop)
        })
        .collect();
    let required_secrets: Vec<&str> = secret
        .iter()
        .filter(|v| v.default.is_none())
        .map(|v| v.name.as_str())
        .collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "chart values",
        "description": "Generated by `cargo xtask chart schema` from the service's settings; do not edit (`cargo xtask codegen`).",
        "type": "object",
        "additionalProperties": false,
        "required": ["image", "config", "secrets", "resources", "probes"],
        "properties": {
            "global": {"type": "object"},
            "image": {
                "type": "object",
                "additionalProperties": false,
                "required": ["repository", "digest"],
                "properties": {
                    "repository": {"type": "string", "description": "image repository, without tag or digest"},
                    "digest": {
                        "type": "string",
                        "pattern": "^(sha256:[0-9a-f]{64})?$",
                        "description": "sha256:<64 hex>; the chart deploys by digest only"
                    },
                    "version": {
                        "type": "string",
                        "pattern": "^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$",
                        "description": "the release's version, the pods' app.kubernetes.io/version label (what a promotion's judgement selects the new version's series by)"
                    },
                    "pullPolicy": {"enum": ["IfNotPresent", "Always"]}
                }
            },
            "replicas": {"type": "integer", "minimum": 1},
            "config": {
                "type": "object",
                "description": "the service's non-secret settings; secrets go under `secrets`",
                "additionalProperties": false,
                "properties": config
            },
            "secrets": {
                "type": "object",
                "additionalProperties": false,
                "required": ["existingSecret", "keys"],
                "properties": {
                    "existingSecret": {
                        "type": "string",
                        "minLength": 1,
                        "description": "an existing Secret (e.g. made by external-secrets' ExternalSecret)"
                    },
                    "keys": {
                        "type": "object",
                        "additionalProperties": false,
                        "required": required_secrets,
                        "properties": keys
                    }
                }
            },
            "resources": {
                "type": "object",
                "additionalProperties": false,
                "required": ["requests", "limits"],
                "properties": {
                    "requests": quantities(),
                    "limits": quantities()
                }
            },
            "probes": {
                "type": "object",
                "additionalProperties": false,
                "required": ["startup", "liveness", "readiness"],
                "properties": {
                    "startup": probe(),
                    "liveness": probe(),
                    "readiness": probe()
                }
            },
            "autoscaling": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "minReplicas": {"type": "integer", "minimum": 1},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                    "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100}
                }
            },
            "podDisruptionBudget": {
                "type": "object",
                "additionalProperties": false,
                "required": ["minAvailable"],
                "properties": {"minAvailable": {"type": "integer", "minimum": 1}}
            },
            "networkPolicy": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "ingressNamespaces": {"type": "array", "items": {"type": "string"}},
                    "metricsNamespaces": {"type": "array", "items": {"type": "string"}},
                    "databaseCIDR": {"type": "string"},
                    "databasePort": {"type": "integer"}
                }
            },
            "migrations": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "enabled": {"type": "boolean"},
                    "backoffLimit": {"type": "integer", "minimum": 0},
                    "activeDeadlineSeconds": {"type": "integer", "minimum": 1}
                }
            },
            "serviceAccount": {
                "type": "object",
                "additionalProperties": false,
                "properties": {"annotations": {"type": "object", "additionalProperties": {"type": "string"}}}
            },
            "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1}
        }
    })
}

fn quantities() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["cpu", "memory"],
        "properties": {
            "cpu": {"type": ["string", "number"]},
            "memory": {"type": "string"}
        }
    })
}

fn probe() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "periodSeconds": {"type": "integer", "minimum": 1},
            "failureThreshold": {"type": "integer", "minimum": 1}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, default: Option<&str>, secret: bool) -> Variable {
        Variable {
            name: name.into(),
            default: default.map(Into::into),
            secret,
            description: format!("{name} means something"),
        }
    }

    #[test]
    fn settings_become_config_or_secret_keys() {
        let vars = [
            var("SVC_LOG", Some("info"), false),
            var("SVC_LISTEN", Some("127.0.0.1:8080"), false),
            var("SVC_DATABASE_URL", None, true),
            var("SVC_OPTIONAL_TOKEN", Some(""), true),
        ];
        let schema = values_schema(&vars, &["SVC_LISTEN".to_owned()]);
        let config = &schema["properties"]["config"];
        assert_eq!(config["additionalProperties"], false);
        assert_eq!(config["properties"]["SVC_LOG"]["default"], "info");
        assert!(
            config["properties"].get("SVC_LISTEN").is_none(),
            "owned by the chart"
        );
        assert!(
            config["properties"].get("SVC_DATABASE_URL").is_none(),
            "a secret is never plain config"
        );
        let keys = &schema["properties"]["secrets"]["properties"]["keys"];
        assert!(keys["properties"].get("SVC_OPTIONAL_TOKEN").is_some());
        assert_eq!(keys["required"], json!(["SVC_DATABASE_URL"]));
    }

    #[test]
    fn a_list_that_is_not_settings_names_its_source() {
        let err = variables("{}", "`app config-docs json`").unwrap_err();
        assert!(err.to_string().contains("`app config-docs json`"), "{err}");
    }
}
