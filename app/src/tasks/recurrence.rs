//! Recurring due dates, computed in the owner's IANA time zone.
//!
//! Occurrence `n` of a series is computed from the series' anchor (its first due date), never from
//! the previous occurrence, so month ends do not drift (Jan 31 → Feb 28 → Mar 31) and the local
//! wall-clock time is kept across DST changes. A local time that does not exist (the spring-forward
//! gap) moves forward by the gap's length; an ambiguous one (fall-back) takes the earlier instant.

use chrono::{
    DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Option<Frequency> {
        [Frequency::Daily, Frequency::Weekly, Frequency::Monthly]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// Every `interval` days, weeks or months.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recurrence {
    pub frequency: Frequency,
    /// 1 to 366.
    #[schema(minimum = 1, maximum = 366)]
    pub interval: u32,
}

pub const MAX_INTERVAL: u32 = 366;

/// The due instant of occurrence `n` (0 is the anchor itself); `None` past the calendar's range.
pub fn occurrence(
    anchor: DateTime<Utc>,
    rule: Recurrence,
    n: u32,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let local = anchor.with_timezone(&tz).naive_local();
    let steps = n.checked_mul(rule.interval)?;
    let date = match rule.frequency {
        Frequency::Daily => local.date().checked_add_days(Days::new(steps.into()))?,
        Frequency::Weekly => local
            .date()
            .checked_add_days(Days::new(u64::from(steps) * 7))?,
        Frequency::Monthly => add_months_keeping_day(local.date(), steps)?,
    };
    Some(resolve(date.and_time(local.time()), tz))
}

/// The occurrence after occurrence `n`: the first one strictly later (when a whole local day is
/// skipped, as Samoa skipped 30 December 2011, two occurrences can fall on the same instant).
pub fn next_after(
    anchor: DateTime<Utc>,
    rule: Recurrence,
    n: u32,
    tz: Tz,
) -> Option<(u32, DateTime<Utc>)> {
    let current = occurrence(anchor, rule, n, tz)?;
    (n + 1..=n.checked_add(3)?)
        .filter_map(|m| Some((m, occurrence(anchor, rule, m, tz)?)))
        .find(|(_, due)| *due > current)
}

/// The anchor's day of month, clamped to the target month's length.
fn add_months_keeping_day(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    let first = date.with_day(1)?.checked_add_months(Months::new(months))?;
    let last_day = first.checked_add_months(Months::new(1))?.pred_opt()?.day();
    first.with_day(date.day().min(last_day))
}

/// The instant a local wall-clock time denotes in `tz`.
pub fn resolve(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earliest, _) => earliest.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: read the wall time with the offset in force just before it.
            let before = local - chrono::Duration::hours(26);
            let offset = tz
                .offset_from_local_datetime(&before)
                .earliest()
                .map_or(0, |o| {
                    use chrono::Offset;
                    o.fix().local_minus_utc()
                });
            (local - chrono::Duration::seconds(offset.into())).and_utc()
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        resolve(
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, min, 0)
                .unwrap(),
            tz,
        )
    }

    fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
        t.with_timezone(&tz).naive_local()
    }

    const DAILY: Recurrence = Recurrence {
        frequency: Frequency::Daily,
        interval: 1,
    };
    const MONTHLY: Recurrence = Recurrence {
        frequency: Frequency::Monthly,
        interval: 1,
    };

    #[test]
    fn daily_keeps_the_wall_clock_across_spring_forward() {
        let tz = chrono_tz::Europe::Berlin;
        let anchor = at(tz, 2026, 3, 28, 9, 0); // CET; 29 March is the switch to CEST
        let next = occurrence(anchor, DAILY, 1, tz).unwrap();
        assert_eq!(local(next, tz).to_string(), "2026-03-29 09:00:00");
        assert_eq!((next - anchor).num_hours(), 23, "the day is 23 hours long");
    }

    #[test]
    fn daily_keeps_the_wall_clock_across_fall_back() {
        let tz = chrono_tz::America::New_York;
        let anchor = at(tz, 2026, 10, 31, 9, 0);
        let next = occurrence(anchor, DAILY, 1, tz).unwrap();
        assert_eq!(local(next, tz).to_string(), "2026-11-01 09:00:00");
        assert_eq!((next - anchor).num_hours(), 25);
    }

    #[test]
    fn a_time_in_the_gap_moves_forward_by_the_gap() {
        let tz = chrono_tz::Europe::Berlin;
        let anchor = at(tz, 2026, 3, 28, 2, 30);
        let next = occurrence(anchor, DAILY, 1, tz).unwrap();
        assert_eq!(local(next, tz).to_string(), "2026-03-29 03:30:00");
        let after = occurrence(anchor, DAILY, 2, tz).unwrap();
        assert_eq!(
            local(after, tz).to_string(),
            "2026-03-30 02:30:00",
            "the series keeps its time"
        );
    }

    #[test]
    fn an_ambiguous_time_takes_the_earlier_instant() {
        let tz = chrono_tz::Europe::Berlin;
        let anchor = at(tz, 2026, 10, 24, 2, 30);
        let next = occurrence(anchor, DAILY, 1, tz).unwrap();
        assert_eq!(next.with_timezone(&tz).offset().to_string(), "CEST");
    }

    #[test]
    fn monthly_clamps_to_month_end_without_drifting() {
        let tz = chrono_tz::America::New_York;
        let anchor = at(tz, 2027, 1, 31, 18, 0);
        let dates: Vec<String> = (1..=3)
            .map(|n| {
                local(occurrence(anchor, MONTHLY, n, tz).unwrap(), tz)
                    .date()
                    .to_string()
            })
            .collect();
        assert_eq!(dates, ["2027-02-28", "2027-03-31", "2027-04-30"]);
        let leap = at(tz, 2028, 1, 31, 18, 0);
        let feb = occurrence(leap, MONTHLY, 1, tz).unwrap();
        assert_eq!(local(feb, tz).date().to_string(), "2028-02-29");
    }

    #[test]
    fn a_skipped_day_does_not_repeat_an_occurrence() {
        let tz = chrono_tz::Pacific::Apia; // 2011-12-30 did not exist there
        let anchor = at(tz, 2011, 12, 29, 10, 0);
        let (n, next) = next_after(anchor, DAILY, 0, tz).unwrap();
        assert_eq!(local(next, tz).to_string(), "2011-12-31 10:00:00");
        let (m, after) = next_after(anchor, DAILY, n, tz).unwrap();
        assert!(after > next && m > n);
    }

    #[test]
    fn weekly_with_interval() {
        let tz = chrono_tz::Australia::Lord_Howe; // half-hour DST
        let anchor = at(tz, 2026, 9, 20, 7, 15);
        let rule = Recurrence {
            frequency: Frequency::Weekly,
            interval: 2,
        };
        let next = occurrence(anchor, rule, 1, tz).unwrap();
        assert_eq!(local(next, tz).to_string(), "2026-10-04 07:15:00");
    }

    const ZONES: &[Tz] = &[
        chrono_tz::UTC,
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::America::Sao_Paulo,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Pacific::Apia,
        chrono_tz::America::Santiago,
    ];

    fn rule() -> impl Strategy<Value = Recurrence> {
        (
            prop_oneof![
                Just(Frequency::Daily),
                Just(Frequency::Weekly),
                Just(Frequency::Monthly)
            ],
            1..=40_u32,
        )
            .prop_map(|(frequency, interval)| Recurrence {
                frequency,
                interval,
            })
    }

    fn anchor() -> impl Strategy<Value = NaiveDateTime> {
        (2000..2040_i32, 1..=12_u32, 1..=31_u32, 0..24_u32, 0..60_u32)
            .prop_filter_map("a real date", |(y, m, d, h, min)| {
                NaiveDate::from_ymd_opt(y, m, d)?.and_hms_opt(h, min, 0)
            })
    }

    fn exists(local: NaiveDateTime, tz: Tz) -> bool {
        !matches!(tz.from_local_datetime(&local), LocalResult::None)
    }

    /// Under miri (gate `miri`, ~1000× slower, no file system) a few cases, none persisted.
    fn config() -> ProptestConfig {
        if cfg!(miri) {
            ProptestConfig {
                cases: 4,
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        } else {
            ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn the_next_occurrence_is_strictly_later(zone in 0..ZONES.len(), a in anchor(), rule in rule(), n in 0..60_u32) {
            let tz = ZONES[zone];
            let start = resolve(a, tz);
            let this = occurrence(start, rule, n, tz).unwrap();
            prop_assert!(occurrence(start, rule, n + 1, tz).unwrap() >= this);
            let (m, next) = next_after(start, rule, n, tz).unwrap();
            prop_assert!(next > this && m > n, "{this} then {next}");
        }

        #[test]
        fn the_wall_clock_and_calendar_are_kept(zone in 0..ZONES.len(), a in anchor(), rule in rule(), n in 1..60_u32) {
            let tz = ZONES[zone];
            let start = resolve(a, tz);
            let wall = local(start, tz);
            let due = occurrence(start, rule, n, tz).unwrap();
            let got = local(due, tz);
            let steps = n * rule.interval;
            let expected_date = match rule.frequency {
                Frequency::Daily => wall.date() + Days::new(steps.into()),
                Frequency::Weekly => wall.date() + Days::new(u64::from(steps) * 7),
                Frequency::Monthly => add_months_keeping_day(wall.date(), steps).unwrap(),
            };
            let expected = expected_date.and_time(wall.time());
            if exists(expected, tz) {
                prop_assert_eq!(got, expected);
            } else {
                // In a gap: later than the wall time by less than a day, never earlier.
                prop_assert!(got > expected && got - expected <= chrono::Duration::hours(24), "{expected} -> {got}");
            }
            if rule.frequency == Frequency::Monthly {
                let month_len = add_months_keeping_day(expected_date.with_day(1).unwrap(), 1).unwrap().pred_opt().unwrap().day();
                prop_assert_eq!(expected_date.day(), wall.day().min(month_len));
                let months = |d: NaiveDate| d.year() * 12 + i32::try_from(d.month0()).unwrap();
                prop_assert_eq!(months(expected_date) - months(wall.date()), i32::try_from(steps).unwrap());
            }
            if rule.frequency == Frequency::Weekly && exists(expected, tz) {
                prop_assert_eq!(got.weekday(), wall.weekday());
            }
        }

        #[test]
        fn resolve_round_trips_existing_times(zone in 0..ZONES.len(), a in anchor()) {
            let tz = ZONES[zone];
            let t = resolve(a, tz);
            if exists(a, tz) {
                prop_assert_eq!(local(t, tz), a);
            } else {
                prop_assert!(local(t, tz) > a);
            }
        }
    }
}
