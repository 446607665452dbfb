//! The whole command-line grammar. Doc comments are the `--help` text.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::output::Mode;
use crate::settings::{Environment, Format, Settings};

const AFTER_HELP: &str = "\
Exit codes:
  0    every required gate passed (or was cached)
  1    a gate failed, or a required gate was skipped while CI=true
  2    usage or configuration error (the message names the flag, file or key)
  3    a required tool or component is missing (the message names the remedy)
  4    a release was refused before anything was done (dirty tree, existing tag, nothing to release)
  5    a load test's threshold or an SLO was not met (`cargo xtask load`)
  6    a promotion failed its judgement (rolled back when a previous version existed), or a
       drill did not pass
  130  interrupted (Ctrl-C); every running tool was killed

Reports: target/xtask/runs/<id>/{report.json,junit.xml,summary.md,gates/<gate>.log}";

/// gatehouse: every production-readiness gate of a Rust service, as one `cargo xtask`.
///
/// The same commands run on a laptop and in GitHub Actions.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Run at most N gates at once [default: the number of CPUs].
    #[arg(long, short = 'j', global = true, value_name = "N")]
    pub jobs: Option<NonZeroUsize>,
    /// After a failure, keep running every gate that does not depend on it.
    #[arg(long, global = true)]
    pub keep_going: bool,
    /// Run every gate even when a cached pass matches its inputs.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Output format: human progress on stderr, or also the JSON report on stdout.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// The workspace root (the directory holding gatehouse.toml) [default: found from the current directory].
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Trust this CA (PEM file) for HTTPS endpoints, beside the platform's roots (and
    /// `SSL_CERT_FILE`) and `[tls] ca` in gatehouse.toml; repeatable.
    #[arg(
        long = "ca-file",
        global = true,
        value_name = "FILE",
        env = "GATEHOUSE_CA_FILE",
        value_delimiter = ':'
    )]
    pub ca_files: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the `ci` pipeline: every merge gate, as GitHub Actions runs it.
    Ci {
        /// Run one CI job's part: the gates of `[[pipelines.ci.groups]]` NAME and the gates they
        /// depend on (the fanned-out workflow runs one group per job).
        #[arg(long, value_name = "NAME")]
        group: Option<String>,
    },
    /// Run the named gates and the gates they depend on.
    Gate {
        /// Gate names (see `cargo xtask list`).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// List every gate with its description and dependencies.
    List,
    /// Say why a gate would or would not be taken from the cache now: the stored pass its key
    /// reuses, or which inputs changed since its last pass (files, commands, tool pins, env).
    Explain {
        /// The gate, e.g. `test`.
        #[arg(value_name = "GATE")]
        gate: String,
    },
    /// Print a pipeline's gate graph and the exact commands; nothing runs.
    Plan {
        /// Pipeline name, e.g. `ci`.
        pipeline: String,
    },
    /// Show the pinned tool manifest, or install tools into the tool cache.
    Tools {
        #[command(subcommand)]
        action: Option<ToolsAction>,
    },
    /// Check every pinned tool: wanted version, found version, status.
    Doctor,
    /// Regenerate every generated file listed under `[codegen]` in gatehouse.toml.
    Codegen {
        /// Write nothing: print the diff of every stale file and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Start, stop or inspect the local stack (PostgreSQL) in the background; state under target/.
    Dev {
        #[command(subcommand)]
        action: DevAction,
    },
    /// Release: with no subcommand, the whole release — reproducible static binary, OCI image,
    /// CycloneDX SBOM, push (ECR or an OCI registry), cosign-format signature and SBOM
    /// attestation, verification, evidence manifest, GitHub release. `--dry-run` does every step
    /// against a throw-away local registry and moto and publishes nothing.
    #[command(args_conflicts_with_subcommands = true)]
    Release {
        #[command(subcommand)]
        action: Option<ReleaseAction>,
        #[command(flatten)]
        run: ReleaseArgs,
    },
    /// Load test: the `[load]` goose binary drives PROFILE (smoke, baseline, soak, stress)
    /// against the service's release build (or, with `--dev`, its dev build) on an ephemeral PostgreSQL while a real Prometheus
    /// scrapes it; thresholds come from the SLO specs. Exit 5 when a threshold or an SLO is
    /// not met. `[service.faults] inherit` variables in the environment reach the service.
    Load {
        /// smoke | baseline | soak | stress
        profile: String,
        /// Run the workspace's dev build of the service and its load test (what `cargo xtask
        /// gate test` compiled) instead of the release build: quick for iterating on a load test
        /// or an SLO, but its numbers say nothing about the release's.
        #[arg(long)]
        dev: bool,
    },
    /// GitHub Actions: `workflow fanout` prints the workflow that runs a pipeline as one job per
    /// `[[pipelines.<name>.groups]]` entry plus a verdict job (used by `[codegen]`).
    Workflow {
        #[command(subcommand)]
        action: WorkflowAction,
    },
    /// Run reports: `report merge` joins the reports of a fanned-out pipeline's jobs into one
    /// verdict (a gate no report holds fails), one JUnit file and one step summary.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// The shared cache (`[cache]`): `cache keygen` makes its signing pair; `cache status`
    /// says which store a run would use and whether this machine may write to it.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// SLOs: render what is generated from the specs in `[slo] dir` (used by `[codegen]`).
    Slo {
        #[command(subcommand)]
        action: SloAction,
    },
    /// Migrations: `classify` judges each up migration expand or contract from PostgreSQL's own
    /// parse of it, as promotions and rollbacks do, naming the statement that decided it.
    Migrations {
        #[command(subcommand)]
        action: MigrationsAction,
    },
    /// The Helm chart (`[chart]`): its generated values schema, or its manifests for an
    /// environment.
    Chart {
        #[command(subcommand)]
        action: ChartAction,
    },
    /// Promote one verified digest to ENV (`deploy/environments/<ENV>.yaml`): resolve it from the
    /// release evidence, verify its cosign signature, SBOM attestation and ci report, check the
    /// environment order, approval and pending migrations (expand-only), deploy, judge it with
    /// the SLO specs and roll back by itself on failure. Exit 4 when refused, 6 when rolled back.
    Promote(PromoteArgs),
    /// Rehearse failure: `drill rollback` promotes a healthy release, a healthy one under steady
    /// load, then a bad one (fault injection and an expand migration) that must be detected and
    /// rolled back; reports time to detect and to recover.
    Drill {
        #[command(subcommand)]
        action: DrillAction,
    },
    /// Inspect an environment (`status`: local processes, or the live release on kubernetes), or tear down a local one (`down`).
    Env {
        #[command(subcommand)]
        action: EnvAction,
    },
    /// AWS as xtask sees it: `aws identity` asks STS who the standard credential chain
    /// (environment keys, `AWS_PROFILE` with SSO or `credential_process`, web identity as in
    /// GitHub's OIDC) authenticates as — what `release` and `promote` act as.
    Aws {
        #[command(subcommand)]
        action: AwsAction,
    },
    /// Adopt gatehouse in an existing Cargo workspace: write a commented gatehouse.toml whose
    /// `ci` pipeline holds only the gates that can run with what it finds, the `xtask` cargo
    /// alias and a GitHub Actions shim, and say what every other gate needs. Exit 2, nothing
    /// written, outside a Cargo workspace or when gatehouse.toml exists (without --force).
    Init {
        /// Replace an existing gatehouse.toml and workflow shim.
        #[arg(long)]
        force: bool,
        /// Print what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The path the service serves its OpenAPI document on (for api-fuzz).
        #[arg(long, value_name = "PATH")]
        openapi: Option<String>,
        /// gatehouse's xtask/Cargo.toml for the `xtask` alias [default: this build's].
        #[arg(long, value_name = "FILE")]
        source: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

/// `cargo xtask promote <env>`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The environment: a file name under deploy/environments/ (local, staging, production).
    pub env: String,
    /// The release version to promote (its evidence under target/xtask/release/vVERSION/).
    #[arg(long, value_name = "V", conflicts_with = "digest")]
    pub version: Option<String>,
    /// The image digest to promote (`sha256:…`), found in the release evidence.
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// A release's evidence directory (its evidence.json, sbom.cdx.json), e.g. downloaded from
    /// the GitHub release.
    #[arg(long, value_name = "DIR")]
    pub evidence: Option<PathBuf>,
    /// The public key signatures are verified with [default: the environment's verify_key].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Read the image from this registry endpoint instead of the one in the evidence.
    #[arg(long, value_name = "URL", env = "GATEHOUSE_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// The approval an environment with `approval: required` needs (pass it from a job bound
    /// to the protected GitHub environment).
    #[arg(long)]
    pub approve: bool,
    /// Verify and print the plan (digest, verification, commands, pending migrations); change
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum ChartAction {
    /// Print `values.schema.json`, generated from the service's settings (used by `[codegen]`).
    Schema,
    /// Print the manifests `helm template` renders for a kubernetes ENV, hooks included.
    Render {
        /// A kubernetes environment under deploy/environments/ (staging, production).
        env: String,
        /// The image digest to render with [default: a placeholder digest].
        #[arg(long, value_name = "DIGEST")]
        digest: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkflowAction {
    /// Print the fanned-out workflow of PIPELINE (one job per group, then the verdict job).
    Fanout {
        #[arg(default_value = "ci")]
        pipeline: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Make the shared cache's ed25519 signing pair: the public key goes to FILE (commit it and
    /// name it in `[cache] public_key`); the writer key is printed once, for a CI secret
    /// `GATEHOUSE_CACHE_KEY` that only protected refs can read.
    Keygen {
        /// Where the public key goes.
        #[arg(long, value_name = "FILE", default_value = ".gatehouse/cache.pub")]
        public_key: PathBuf,
        /// Replace an existing public key (every entry signed with the old pair is then ignored).
        #[arg(long)]
        force: bool,
    },
    /// Which stores a run uses: the local one, the shared bucket, and whether this machine
    /// holds the writer key; exit 0 even when the bucket cannot be reached (a run would go on).
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Merge the `report.json` files at or under REPORTS (files or directories) of PIPELINE's
    /// group runs; exit status as the pipeline's. The merged run lands in target/xtask/runs/.
    Merge {
        /// The fanned-out pipeline.
        #[arg(long, default_value = "ci")]
        pipeline: String,
        /// Also write the merged JUnit XML here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Reports or directories holding them (e.g. the workflow's downloaded artifacts).
        #[arg(required = true, value_name = "REPORTS")]
        reports: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrationsAction {
    /// Each up migration in DIR [default: `[release] migrations`, else `[migrations] dir`]:
    /// expand (only adds) or contract (with file:line, the statement and why). SQL that does not
    /// parse, a `DO` block or a statement the judgement does not know counts as contract.
    Classify {
        /// A migrations directory, relative to the workspace root.
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrillAction {
    /// The rollback drill on a throw-away copy of a local environment.
    Rollback {
        /// A local environment to copy.
        #[arg(long, default_value = "local")]
        env: String,
        /// What the bad release injects.
        #[arg(long, value_enum, default_value_t = FaultArg::Errors)]
        fault: FaultArg,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FaultArg {
    Errors,
    Latency,
}

#[derive(Debug, Subcommand)]
pub enum EnvAction {
    /// What an environment runs: local — the live version, its ports, PostgreSQL and nginx;
    /// kubernetes — the live release per the promotion ledger (GitHub deployments).
    Status { env: String },
    /// Stop a local environment's processes and delete its state and data.
    Down { env: String },
}

#[derive(Debug, Subcommand)]
pub enum AwsAction {
    /// STS `GetCallerIdentity` with the credentials `release` and `promote` use: account, ARN
    /// and user id (`AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` are honoured).
    Identity {
        /// The region [default: `[release] region` in gatehouse.toml, else us-east-1].
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolsAction {
    /// List every tool of the manifest with its source and pinned version.
    List,
    /// Install the named tools (all when none is named) at their pinned versions.
    Install {
        /// Tool names from the manifest.
        #[arg(value_name = "TOOL")]
        names: Vec<String>,
    },
    /// Provision one tool and print the path of its executable (for scripts and tests).
    Path {
        /// A tool name from the manifest.
        #[arg(value_name = "TOOL")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SloAction {
    /// Print a generated file on stdout: `rules` (Prometheus recording rules and burn-rate
    /// alerts), `tests` (their promtool unit tests) or `dashboard SERVICE` (Grafana JSON).
    Render {
        #[arg(value_enum)]
        what: SloRender,
        /// The service whose dashboard to print.
        service: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SloRender {
    Rules,
    Tests,
    Dashboard,
}

#[derive(Debug, Subcommand)]
pub enum DevAction {
    /// Start the local stack (if not running) and print its connection settings.
    Up,
    /// Stop the local stack and delete its data; nothing is left running.
    Down,
    /// Show whether the local stack is running, and its connection settings.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseAction {
    /// The next version, its tag and release notes from the conventional commits since the last
    /// `v*` tag; refuses (exit 4) a dirty tree, an existing tag or nothing to release. Changes
    /// nothing.
    Plan,
    /// Build the planned release's reproducible static binary (`[release] target`) and its OCI
    /// image (one layer: binary, CA certificates, non-root user) as an OCI layout under
    /// `target/xtask/release/<tag>/oci`, checked by skopeo. Publishes nothing.
    Image,
    /// Make a signing key pair in cosign's format: `cosign.key` (encrypted with
    /// `$COSIGN_PASSWORD`) and `cosign.pub`. Never overwrites a key.
    Keygen {
        /// Where to write the pair.
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Verify an image's cosign signature and SBOM attestation in its registry with a public
    /// key only: `cargo xtask release verify 127.0.0.1:5000/gatehouse/app@sha256:… --key cosign.pub`.
    Verify {
        /// `host/repository@sha256:<hex>`.
        reference: String,
        /// The public key (PEM).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Talk plain HTTP to the registry (the default for 127.0.0.1 and localhost).
        #[arg(long)]
        plain_http: bool,
    },
}

/// `cargo xtask release [--dry-run]`.
#[derive(Debug, Args, Default)]
pub struct ReleaseArgs {
    /// Run every step that does not publish: push, sign and verify against a throw-away
    /// registry and moto on loopback (a throw-away key unless one is given), no GitHub release.
    /// On a commit with nothing to release, rehearses a `0.0.0-snapshot.<commit>` version.
    #[arg(long)]
    pub dry_run: bool,
    /// The encrypted signing key (cosign's format); else `$COSIGN_PRIVATE_KEY`. Its password
    /// comes from `$COSIGN_PASSWORD`.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Push to this registry endpoint instead of the one `[release] registry` (or ECR) names.
    #[arg(long, value_name = "URL", env = "GATEHOUSE_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// Attempts per registry request (exponential backoff from 200 ms) before the push fails.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
}

/// The plain settings a command line makes (the domain never sees clap).
pub fn settings(global: &Global, root: PathBuf, env: &Environment) -> Settings {
    Settings {
        root,
        jobs: global.jobs.map_or(env.cpus, NonZeroUsize::get),
        keep_going: global.keep_going,
        use_cache: !global.no_cache,
        format: match global.format {
            FormatArg::Human => Format::Human,
            FormatArg::Json => Format::Json,
        },
        mode: Mode::detect(env.stderr_is_terminal, env.ci, env.github_actions),
        ci: env.ci,
        step_summary: if env.github_actions {
            env.step_summary.clone()
        } else {
            None
        },
        ca_files: global.ca_files.clone(),
    }
}
