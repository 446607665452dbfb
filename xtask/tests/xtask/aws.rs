//! AWS credentials as users have them, against moto: `cargo xtask aws identity` (STS
//! `GetCallerIdentity` through the SDK configuration `release` and `promote` use) authenticates
//! with a profile's `credential_process` and with web identity (GitHub's OIDC), and with nothing
//! set it fails naming the remedy — static keys are the emulator's only.

use crate::support::{AWS_VARS, Fixture, Moto, Run, run_program};

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";

impl Moto {
    /// An IAM user with an access key, made in moto; the key as credential_process JSON.
    fn user_key_json(&self, user: &str) -> String {
        let script = format!(
            "import boto3, json\n\
             iam = boto3.client('iam', region_name='us-east-1', endpoint_url='{url}', aws_access_key_id='testing', aws_secret_access_key='testing', verify='{ca}')\n\
             iam.create_user(UserName='{user}')\n\
             key = iam.create_access_key(UserName='{user}')['AccessKey']\n\
             print(json.dumps({{'Version': 1, 'AccessKeyId': key['AccessKeyId'], 'SecretAccessKey': key['SecretAccessKey']}}))\n",
            url = self.server.url(),
            ca = self.server.ca_path().display(),
        );
        let out = run_program(&self.python, &["-c", &script]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout.trim().to_owned()
    }

    /// `xtask aws identity` on a fixture, with only `env` (and moto's endpoint) for AWS.
    fn identity(&self, env: &[(&str, &str)]) -> Run {
        let fx = Fixture::new("engine");
        let ca = self.server.ca_path().display().to_string();
        let args = ["--ca-file", &ca, "--format", "json", "aws", "identity"];
        let mut cmd = fx.command(&args);
        cmd.args(["--region", REGION]);
        for var in AWS_VARS {
            cmd.env_remove(var);
        }
        let none = self.dir.path().join("absent");
        cmd.env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", self.server.url())
            .envs(env.iter().copied());
        Run::from(cmd.output().expect("run xtask"))
    }
}

fn arn_of(run: &Run) -> String {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let identity: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON identity");
    identity["arn"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_profile_with_credential_process_is_used() {
    let moto = Moto::start();
    let creds = moto.file("creds.json", &moto.user_key_json("ci-process"));
    let config = moto.file(
        "config",
        &format!("[profile ci]\ncredential_process = cat {creds}\n"),
    );

    let run = moto.identity(&[("AWS_CONFIG_FILE", &config), ("AWS_PROFILE", "ci")]);

    assert_eq!(
        arn_of(&run),
        format!("arn:aws:iam::{ACCOUNT}:user/ci-process")
    );
}

#[test]
fn web_identity_assumes_the_role_and_uses_its_credentials() {
    let moto = Moto::start();
    let token = moto.file("token", "a-github-oidc-token");
    let role = format!("arn:aws:iam::{ACCOUNT}:role/gatehouse-release");

    let run = moto.identity(&[
        ("AWS_WEB_IDENTITY_TOKEN_FILE", &token),
        ("AWS_ROLE_ARN", &role),
        ("AWS_ROLE_SESSION_NAME", "gatehouse-ci"),
    ]);

    assert_eq!(
        arn_of(&run),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/gatehouse-release/gatehouse-ci")
    );
}

#[test]
fn without_credentials_a_real_endpoint_fails_naming_the_remedy() {
    let moto = Moto::start();

    let run = moto.identity(&[]);

    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains("GetCallerIdentity") && run.stderr.contains("AWS_PROFILE"),
        "{}",
        run.stderr
    );
}
