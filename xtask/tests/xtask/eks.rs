//! EKS access against moto and botocore: `DescribeCluster` gives the endpoint and CA (moto),
//! and the presigned STS token's signature equals the one botocore — what `aws eks get-token`
//! runs — computes for the same request at the same instant.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use xtask::deploy::eks;
use xtask::http::Trust;

use crate::support::Run;

const REGION: &str = "eu-west-1";

#[expect(
    clippy::disallowed_methods,
    reason = "the tests drive tools as a user would"
)]
fn run(program: &Path, args: &[&str]) -> Run {
    Run::from(
        std::process::Command::new(program)
            .args(args)
            .output()
            .expect("run"),
    )
}

fn moto_bin() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_xtask")),
        &["--root", root.to_str().unwrap(), "tools", "path", "moto"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.trim().into()
}

fn create_cluster(python: &Path, moto: &launcher::Loopback, name: &str) {
    let (url, ca) = (moto.url(), moto.ca_path().display());
    let script = format!(
        "import boto3\n\
         eks = boto3.client('eks', region_name='{REGION}', endpoint_url='{url}', verify='{ca}', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         eks.create_cluster(name='{name}', roleArn='arn:aws:iam::123456789012:role/eks', resourcesVpcConfig={{'subnetIds': ['subnet-1']}})\n"
    );
    let out = run(python, &["-c", &script]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn describe_cluster_gives_the_endpoint_and_ca_of_an_active_cluster() {
    let bin = moto_bin();
    let python = bin.parent().unwrap().join("python");
    let ca = launcher::Ca::throwaway().unwrap();
    let moto = launcher::moto(&bin, &ca).unwrap();
    create_cluster(&python, &moto, "gatehouse-staging");

    let trust = Trust::default().with_pem("the test's CA", ca.cert_pem());
    let (cluster, credentials) =
        eks::access("gatehouse-staging", REGION, Some(&moto.url()), &trust).unwrap();
    assert_eq!(credentials.access_key_id(), "testing");
    assert_eq!(cluster.status, "ACTIVE");
    assert!(
        cluster.endpoint.starts_with("https://"),
        "{}",
        cluster.endpoint
    );
    assert!(!cluster.ca_pem.is_empty());
    let missing = eks::access("no-such-cluster", REGION, Some(&moto.url()), &trust).unwrap_err();
    assert!(
        format!("{missing:#}").contains("DescribeCluster no-such-cluster"),
        "{missing:#}"
    );
}

#[test]
fn the_token_signature_equals_botocores() {
    let python = moto_bin().parent().unwrap().join("python");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_700_000);
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG",
        Some("tok/en+=".into()),
        None,
        "test",
    );
    let sts = format!("https://sts.{REGION}.amazonaws.com");
    let token = eks::token("gatehouse-production", REGION, &sts, &creds, at).unwrap();
    let ours = eks::token_url(&token).unwrap();
    // botocore presigns the same request at the same instant, as `aws eks get-token` does.
    let script = format!(
        "import datetime\n\
         from unittest import mock\n\
         from botocore.auth import SigV4QueryAuth\n\
         from botocore.awsrequest import AWSRequest\n\
         from botocore.credentials import Credentials\n\
         creds = Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG', 'tok/en+=')\n\
         req = AWSRequest(method='GET', url='{sts}/?Action=GetCallerIdentity&Version=2011-06-15', headers={{'x-k8s-aws-id': 'gatehouse-production'}})\n\
         at = datetime.datetime.fromtimestamp(1763700000, datetime.timezone.utc).replace(tzinfo=None)\n\
         with mock.patch('botocore.auth.get_current_datetime', return_value=at):\n\
         \x20   SigV4QueryAuth(creds, 'sts', '{REGION}', expires=60).add_auth(req)\n\
         print(req.url)\n"
    );
    let out = run(&python, &["-c", &script]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let signature = |url: &str| {
        reqwest::Url::parse(url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "X-Amz-Signature")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    assert_eq!(
        signature(&ours),
        signature(out.stdout.trim()),
        "ours: {ours}\nbotocore: {}",
        out.stdout
    );
}
