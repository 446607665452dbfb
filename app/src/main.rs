//! The service binary.
//!
//! `app [serve]` serves until SIGTERM; `app seed` creates the first admin; `app keygen` prints a
//! new signing key and `app public-key` its public half; `app openapi` prints the OpenAPI document.

use std::process::ExitCode;

use anyhow::{Context, Result};
use app::auth::keys::Keyset;
use app::config::Settings;
use app::database::ConnectError;
use app::startup::{self, AppState, Application, MIGRATOR};
use app::{openapi, seed, shutdown, telemetry};

const USAGE: &str =
    "usage: app [serve | migrate [DIR] | seed | keygen | public-key | openapi | config-docs | help]

  serve    serve the API (default); configuration from APP_* variables
  migrate  apply pending migrations (embedded, or the .sql files in DIR) and exit; a schema
           ahead of this release is accepted (see the deploy runbooks)
  seed     create the first admin from APP_SEED_ADMIN_EMAIL and APP_SEED_ADMIN_PASSWORD (idempotent)
  keygen   print a new Ed25519 signing key (PKCS#8 PEM) for APP_JWT_PRIVATE_KEY
  public-key  read a private key on stdin, print its public key (for APP_JWT_PREVIOUS_PUBLIC_KEYS)
  openapi  print the OpenAPI 3.1 document
  config-docs env|markdown|json  print every setting as .env.example, a Markdown table or JSON

exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error,
            3 the database cannot be reached or trusted (nothing was applied)";

fn main() -> ExitCode {
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    match command.as_str() {
        "keygen" => {
            print!("{}", Keyset::generate_private_pem());
            ExitCode::SUCCESS
        }
        "public-key" => {
            let mut pem = String::new();
            let read = std::io::Read::read_to_string(&mut std::io::stdin(), &mut pem);
            match read
                .map_err(anyhow::Error::from)
                .and_then(|_| Keyset::public_pem(&pem).map_err(anyhow::Error::from))
            {
                Ok(public) => {
                    print!("{public}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: stdin: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        "config-docs" => match std::env::args().nth(2).as_deref() {
            Some("env") => {
                print!("{}", app::config::env_example());
                ExitCode::SUCCESS
            }
            Some("markdown") => {
                print!("{}", app::config::markdown());
                ExitCode::SUCCESS
            }
            Some("json") => {
                println!("{}", app::config::json());
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!("error: `app config-docs` takes `env`, `markdown` or `json`\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        "openapi" => match openapi::document().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.into()),
        },
        "serve" | "seed" | "migrate" => {
            let settings = match Settings::from_env() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime");
            let result = runtime.and_then(|rt| {
                rt.block_on(async {
                    if command == "seed" {
                        run_seed(settings).await
                    } else if command == "migrate" {
                        run_migrate(settings, std::env::args().nth(2)).await
                    } else {
                        serve(settings).await
                    }
                })
            });
            result.map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Exit 3 when the database could not be reached or trusted at start-up (nothing was applied),
/// 1 for any other runtime failure.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    match error.downcast_ref::<ConnectError>() {
        Some(_) => ExitCode::from(3),
        None => ExitCode::FAILURE,
    }
}

async fn serve(settings: Settings) -> Result<()> {
    let telemetry = telemetry::init(&settings.log)?;
    tracing::info!(config = ?settings, "starting");
    if settings.jwt.keys.is_development() {
        tracing::warn!(
            "signing tokens with the built-in development key; set APP_JWT_PRIVATE_KEY (see `app keygen`)"
        );
    }
    let db = startup::connect(&settings).await?;
    startup::migrate(&db, &MIGRATOR).await?;
    let app = Application::bind(AppState::new(settings, db)).await?;
    tracing::info!(api = %app.api_addr(), ops = %app.ops_addr(), "listening");
    let state = app.state().clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            state.limiter.prune();
        }
    });
    let result = app.run_until(shutdown::signal()).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    result
}

async fn run_migrate(settings: Settings, dir: Option<String>) -> Result<()> {
    let db = startup::connect(&settings).await?;
    let ahead = match dir {
        Some(dir) => {
            let migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&dir))
                .await
                .with_context(|| format!("cannot read the migrations in {dir}"))?;
            startup::migrate(&db, &migrator).await?
        }
        None => startup::migrate(&db, &MIGRATOR).await?,
    };
    println!("migrations applied; versions beyond this release: {ahead:?}");
    Ok(())
}

async fn run_seed(settings: Settings) -> Result<()> {
    let email = std::env::var("APP_SEED_ADMIN_EMAIL")
        .context("APP_SEED_ADMIN_EMAIL: required by `app seed`")?;
    let password = std::env::var("APP_SEED_ADMIN_PASSWORD")
        .context("APP_SEED_ADMIN_PASSWORD: required by `app seed`")?;
    let db = startup::connect(&settings).await?;
    startup::migrate(&db, &MIGRATOR).await?;
    match seed::admin(&db, &email, &password).await? {
        seed::Outcome::Created(id) => println!("created admin {email} ({id})"),
        seed::Outcome::Promoted(id) => println!("granted admin to existing user {email} ({id})"),
        seed::Outcome::AlreadyAdmin(id) => {
            println!("{email} ({id}) is already an admin; nothing to do")
        }
    }
    Ok(())
}
