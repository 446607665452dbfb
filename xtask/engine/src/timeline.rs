//! One timeline for every pipeline that is a sequence of phases (release, promote, drill):
//! typed phases with a human note each, in milliseconds since the start. Reports and the
//! drill's measurements read phases, never the wording of a note.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// A phase a pipeline reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// release: the static build and its image.
    Built,
    /// release: the SBOM, checked against the build.
    Sbom,
    /// release: the registry and ECR are ready.
    Registry,
    /// release: the image is pushed.
    Pushed,
    /// release: signature and attestation are pushed.
    Signed,
    /// release: both verify from the registry.
    Verified,
    /// promote: the cluster is reachable (kubernetes).
    Connected,
    /// promote: digest, signature, SBOM attestation and ci report verified.
    Trusted,
    /// promote: pending expand migrations applied.
    Migrated,
    /// promote: the new version runs.
    Deployed,
    /// promote: the rollout itself failed.
    RolloutFailed,
    /// promote: the judgement passed.
    JudgedHealthy,
    /// promote: the judgement failed (the moment a bad release is detected).
    JudgedFailing,
    /// promote: nothing to roll back to.
    NothingToRollBackTo,
    /// promote: the previous version runs again.
    RolledBack,
    /// promote: the previous version passes readiness and smoke.
    Recovered,
    /// promote: the previous version does not.
    NotRecovered,
}

/// One event: when, which phase, and what a person reads about it.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub at_ms: u64,
    pub phase: Phase,
    pub what: String,
}

/// Events since `start`.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    /// Wall-clock start, seconds since the epoch.
    pub started: u64,
    events: Vec<Event>,
}

impl Timeline {
    pub fn start() -> Timeline {
        Timeline {
            start: Instant::now(),
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            events: Vec::new(),
        }
    }

    /// Records `phase` now with its note, says the note; the time since the start.
    pub fn mark(&mut self, phase: Phase, what: impl Into<String>, say: &dyn Fn(&str)) -> u64 {
        let at_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let what = what.into();
        say(&what);
        self.events.push(Event { at_ms, phase, what });
        at_ms
    }

    /// How long each phase took: from the previous event (or the start) to its own.
    pub fn durations(&self) -> Vec<(Phase, u64)> {
        let mut last = 0;
        self.events
            .iter()
            .map(|e| {
                let took = e.at_ms.saturating_sub(last);
                last = e.at_ms;
                (e.phase, took)
            })
            .collect()
    }

    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

/// When `phase` was first reached in `events`.
pub fn at(events: &[Event], phase: Phase) -> Option<u64> {
    events.iter().find(|e| e.phase == phase).map(|e| e.at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_found_by_type_and_durations_follow_the_marks() {
        let mut t = Timeline::start();
        let quiet = |_: &str| {};
        let a = t.mark(Phase::Deployed, "started 1.2.0 on port 1", &quiet);
        let b = t.mark(
            Phase::JudgedFailing,
            "judged failing: anything at all",
            &quiet,
        );
        let d = t.durations();
        assert_eq!(d[0], (Phase::Deployed, a));
        assert_eq!(d[1], (Phase::JudgedFailing, b - a));
        let events = t.into_events();
        assert_eq!(at(&events, Phase::Deployed), Some(a));
        assert_eq!(at(&events, Phase::JudgedFailing), Some(b));
        assert_eq!(at(&events, Phase::Recovered), None);
    }
}
