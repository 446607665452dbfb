//! A promotion judged on a Prometheus shared with the previous version (a cluster's) reads only
//! the new version's series, and only since its judgement began: a real Prometheus scrapes both
//! versions of a service, the previous one failing a third of its requests.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use xtask::load::{self, Prometheus, Scope};
use xtask::slo::{MetricNames, Spec};

use crate::support::repo_tool as tool;

const LABEL: &str = "app_kubernetes_io_version";

/// Counters of both versions, growing with time: the previous version (`1.0.0`) 100 answers a
/// second of which a third are 500s; the new one (`1.1.0`) 20 a second, 500s only in its
/// first `bad_for`.
fn exposition(elapsed: f64, bad_for: f64) -> String {
    let series = |version: &str, status: u16, count: f64| {
        format!(
            "http_requests_total{{route=\"/v1/items\",method=\"GET\",status=\"{status}\",{LABEL}=\"{version}\"}} {}\n",
            count.floor()
        )
    };
    [
        "# TYPE http_requests_total counter\n".to_owned(),
        series("1.0.0", 200, elapsed * 66.0),
        series("1.0.0", 500, elapsed * 33.0),
        series("1.1.0", 200, elapsed * 20.0),
        series("1.1.0", 500, elapsed.min(bad_for) * 20.0),
    ]
    .concat()
}

/// A metrics endpoint on loopback serving [`exposition`], its clock starting at the first
/// scrape; its `host:port` and that first scrape's time.
fn exporter(bad_for: f64) -> (String, Arc<OnceLock<Instant>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let first = Arc::new(OnceLock::new());
    let started = first.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let start = *started.get_or_init(Instant::now);
            let body = exposition(start.elapsed().as_secs_f64(), bad_for);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, first)
}

fn spec(dir: &std::path::Path) -> Spec {
    let path = dir.join("svc.yaml");
    std::fs::write(
        &path,
        "service: svc\njob: svc\nobjectives:\n  - name: availability\n    description: no server errors\n    sli: availability\n    target: 99.9\n    routes: /v1/.+\n",
    )
    .unwrap();
    Spec::load(&path).unwrap()
}

fn scope(version: &str, since: Instant, floor: Duration) -> Scope {
    Scope::Version {
        label: LABEL.to_owned(),
        version: version.to_owned(),
        since,
        floor,
        metrics: MetricNames::default(),
    }
}

/// The error ratio `scope` reads, once Prometheus has enough samples for it (or none after 30 s).
fn ratio(prometheus: &Prometheus, spec: &Spec, scope: &Scope) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let server = load::server_side(prometheus, &[spec], scope).unwrap();
        if server[0].error_ratio.is_some() || Instant::now() > deadline {
            return server[0].error_ratio;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_shared_prometheus_is_judged_on_the_new_versions_series_since_the_judgement_began() {
    let bad_for = 4.0;
    let (target, first_scrape) = exporter(bad_for);
    let bin = tool("prometheus").with_file_name("prometheus");
    let prometheus = load::start_prometheus(
        &bin,
        launcher::Scrape {
            job: "svc",
            target: &target,
            path: "/metrics",
        },
        &[],
    )
    .unwrap();
    let queries = Prometheus::at(&prometheus.url()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());

    let deadline = Instant::now() + Duration::from_secs(30);
    let start = loop {
        if let Some(start) = first_scrape.get() {
            break *start;
        }
        assert!(Instant::now() < deadline, "Prometheus never scraped");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Since the start, both versions' series together: the previous version's errors count.
    let everything = Scope::Version {
        label: "job".to_owned(),
        version: "svc".to_owned(),
        since: start,
        floor: Duration::from_secs(3),
        metrics: MetricNames::default(),
    };
    let mixed = ratio(&queries, &spec, &everything).expect("data for both versions");
    assert!(mixed > 0.1, "the previous version fails a third: {mixed}");

    // The judgement of 1.1.0 begins once its early errors are over.
    while start.elapsed().as_secs_f64() < bad_for + 2.0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let judged_from = Instant::now();
    let since_start = ratio(&queries, &spec, &scope("1.1.0", start, Duration::ZERO)).unwrap();
    assert!(
        since_start > 0.01,
        "1.1.0 failed before its judgement began: {since_start}"
    );
    // Wait for two scrapes inside the judgement's window, then judge.
    let new = ratio(
        &queries,
        &spec,
        &scope("1.1.0", judged_from, Duration::from_secs(2)),
    );
    assert_eq!(
        new,
        Some(0.0),
        "only the new version's series, only since the judgement began"
    );
    let old = ratio(
        &queries,
        &spec,
        &scope("1.0.0", judged_from, Duration::from_secs(2)),
    )
    .unwrap();
    assert!(old > 0.2, "the previous version, judged alone: {old}");
}
