//! The task lifecycle as a table: a transition not listed here is refused with 409.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Completed,
    Cancelled,
    Archived,
}

use Status::{Archived, Cancelled, Completed, Open};

/// Every allowed `(from, to)`. `archived` is terminal.
pub const TRANSITIONS: &[(Status, Status)] = &[
    (Open, Completed),
    (Open, Cancelled),
    (Completed, Open),
    (Completed, Archived),
    (Cancelled, Open),
    (Cancelled, Archived),
];

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Open => "open",
            Completed => "completed",
            Cancelled => "cancelled",
            Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Open, Completed, Cancelled, Archived]
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Where a task in this status may go.
    pub fn next(self) -> Vec<Status> {
        TRANSITIONS
            .iter()
            .filter(|(from, _)| *from == self)
            .map(|(_, to)| *to)
            .collect()
    }

    pub fn can_become(self, to: Status) -> bool {
        TRANSITIONS.contains(&(self, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_rule() {
        assert!(Open.can_become(Completed));
        assert!(Completed.can_become(Open));
        assert!(
            !Completed.can_become(Completed),
            "completing twice is a conflict"
        );
        assert!(
            !Open.can_become(Archived),
            "only finished tasks are archived"
        );
        assert!(Archived.next().is_empty(), "archived is terminal");
        for status in [Open, Completed, Cancelled, Archived] {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
    }
}
