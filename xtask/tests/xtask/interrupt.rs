//! Ctrl-C during a long gate: exit 130 and no process of the gate left alive.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Fixture, reason, status};

#[test]
fn sigint_kills_the_whole_process_tree_and_exits_130() {
    let fx = Fixture::new("engine");
    let mut child = fx
        .command(&["gate", "sleeper"])
        .spawn()
        .expect("start xtask");
    let pids = wait_for_pids(&fx);
    assert_eq!(
        pids.len(),
        3,
        "the gate started a shell, a background sleep and a setsid sleep"
    );
    assert!(
        pids.iter().all(|&p| launcher::alive(p)),
        "the tree is running before the interrupt"
    );

    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGINT,
    )
    .expect("send SIGINT");
    let code = wait(&mut child, Duration::from_secs(20));
    assert_eq!(code, Some(130));

    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| launcher::alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<_> = pids.iter().filter(|&&p| launcher::alive(p)).collect();
    assert!(
        survivors.is_empty(),
        "processes outlived the interrupt: {survivors:?}"
    );
    let report = fx.report();
    assert_eq!(report["outcome"], "interrupted");
    assert_eq!(status(&report, "sleeper"), "failed");
    assert!(
        reason(&report, "sleeper").starts_with("interrupted"),
        "{}",
        reason(&report, "sleeper")
    );
}

fn wait_for_pids(fx: &Fixture) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pids: Vec<i32> = fx
            .read("pids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() == 3 || Instant::now() > deadline {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for xtask") {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}
