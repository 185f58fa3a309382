//! Operating-hours calendars: weekly hours, holidays, midnight ends, DST in both directions, validation.

use serde_json::json;
use switchboard_domain::{
    Code, Timestamp,
    routing::calendar::{Calendar, CalendarSpec},
};

fn calendar(v: serde_json::Value) -> Calendar {
    let spec: CalendarSpec = serde_json::from_value(v).unwrap();
    Calendar::new(&spec).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap_or_else(|| panic!("bad test timestamp {s}"))
}

fn change(c: &Calendar, at: &str) -> Option<String> {
    c.next_change(ts(at)).map(|t| t.to_string())
}

fn error(v: serde_json::Value) -> (Code, String, String) {
    let spec: CalendarSpec = serde_json::from_value(v).unwrap();
    let e = Calendar::new(&spec).unwrap_err();
    (e.code, e.field.unwrap_or_default(), e.detail)
}

fn every_day(hours: serde_json::Value) -> serde_json::Value {
    json!({
        "monday": hours, "tuesday": hours, "wednesday": hours, "thursday": hours,
        "friday": hours, "saturday": hours, "sunday": hours,
    })
}

#[test]
fn split_days_open_and_close_at_each_edge() {
    // 2026-01-05 is a Monday; UTC keeps the arithmetic visible.
    let c = calendar(json!({
        "time_zone": "UTC",
        "weekly": { "monday": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}] }
    }));
    assert!(!c.is_open(ts("2026-01-05T08:59:59Z")));
    assert!(c.is_open(ts("2026-01-05T09:00:00Z")));
    assert!(c.is_open(ts("2026-01-05T11:59:59.999Z")));
    assert!(!c.is_open(ts("2026-01-05T12:00:00Z")));
    assert!(c.is_open(ts("2026-01-05T13:00:00Z")));
    assert!(!c.is_open(ts("2026-01-05T17:00:00Z")));
    assert!(!c.is_open(ts("2026-01-06T10:00:00Z")), "Tuesday is closed");

    assert_eq!(change(&c, "2026-01-05T08:00:00Z").as_deref(), Some("2026-01-05T09:00:00.000Z"));
    assert_eq!(change(&c, "2026-01-05T09:00:00Z").as_deref(), Some("2026-01-05T12:00:00.000Z"));
    assert_eq!(change(&c, "2026-01-05T12:00:00Z").as_deref(), Some("2026-01-05T13:00:00.000Z"));
    assert_eq!(change(&c, "2026-01-05T16:00:00Z").as_deref(), Some("2026-01-05T17:00:00.000Z"));
    assert_eq!(change(&c, "2026-01-05T17:00:00Z").as_deref(), Some("2026-01-12T09:00:00.000Z"), "next Monday");
    assert_eq!(c.next_open(ts("2026-01-05T10:00:00Z")), Some(ts("2026-01-05T10:00:00Z")), "open now");
    assert_eq!(c.next_open(ts("2026-01-06T10:00:00Z")), Some(ts("2026-01-12T09:00:00Z")));
}

#[test]
fn an_overnight_shift_across_midnight_is_one_open_period() {
    let c = calendar(json!({
        "time_zone": "Europe/Berlin",
        "weekly": {
            "friday": [{"start": "22:00", "end": "24:00"}],
            "saturday": [{"start": "00:00", "end": "06:00"}]
        }
    }));
    // Friday 2026-01-09 22:00 CET is 21:00 UTC.
    assert!(c.is_open(ts("2026-01-09T21:00:00Z")));
    assert!(c.is_open(ts("2026-01-09T23:00:00Z")), "Saturday 00:00 local");
    assert!(!c.is_open(ts("2026-01-10T05:00:00Z")), "Saturday 06:00 local");
    assert_eq!(
        change(&c, "2026-01-09T22:00:00Z").as_deref(),
        Some("2026-01-10T05:00:00.000Z"),
        "no change at midnight"
    );
    assert_eq!(change(&c, "2026-01-10T06:00:00Z").as_deref(), Some("2026-01-16T21:00:00.000Z"));
}

#[test]
fn an_interval_may_end_at_midnight() {
    let c = calendar(json!({"time_zone": "Asia/Tokyo", "weekly": {"monday": [{"start": "18:00", "end": "24:00"}]}}));
    // Monday 2026-01-05 23:59 JST is 14:59 UTC; Tuesday 00:00 JST is 15:00 UTC.
    assert!(c.is_open(ts("2026-01-05T14:59:59Z")));
    assert!(!c.is_open(ts("2026-01-05T15:00:00Z")));
    assert_eq!(change(&c, "2026-01-05T10:00:00Z").as_deref(), Some("2026-01-05T15:00:00.000Z"));
}

#[test]
fn holidays_close_a_day_or_replace_its_hours() {
    let c = calendar(json!({
        "time_zone": "Europe/Berlin",
        "weekly": every_day(json!([{"start": "08:00", "end": "20:00"}])),
        "holidays": [
            {"date": "2026-12-25", "name": "Christmas Day"},
            {"date": "2026-12-24", "hours": [{"start": "08:00", "end": "12:00"}]},
            {"date": "2026-12-26", "hours": []}
        ]
    }));
    // CET is UTC+1 in December.
    assert!(c.is_open(ts("2026-12-23T18:00:00Z")));
    assert!(c.is_open(ts("2026-12-24T10:59:00Z")));
    assert!(!c.is_open(ts("2026-12-24T11:00:00Z")), "Christmas Eve closes at noon");
    assert!(!c.is_open(ts("2026-12-25T12:00:00Z")));
    assert!(!c.is_open(ts("2026-12-26T12:00:00Z")), "empty hours mean closed");
    assert_eq!(change(&c, "2026-12-24T11:00:00Z").as_deref(), Some("2026-12-27T07:00:00.000Z"));
}

#[test]
fn new_york_spring_forward() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT, at 07:00 UTC.
    let c = calendar(json!({
        "time_zone": "America/New_York",
        "weekly": { "sunday": [{"start": "02:30", "end": "05:00"}] }
    }));
    assert!(!c.is_open(ts("2026-03-08T06:59:59Z")), "01:59:59 EST");
    assert!(c.is_open(ts("2026-03-08T07:00:00Z")), "02:30 does not exist, so it opens at 03:00 EDT");
    assert!(c.is_open(ts("2026-03-08T08:59:59Z")));
    assert!(!c.is_open(ts("2026-03-08T09:00:00Z")), "05:00 EDT");
    assert_eq!(change(&c, "2026-03-08T05:00:00Z").as_deref(), Some("2026-03-08T07:00:00.000Z"));
    assert_eq!(change(&c, "2026-03-08T07:00:00Z").as_deref(), Some("2026-03-08T09:00:00.000Z"));

    // The Sunday before, in EST, opens at 02:30 local as written.
    assert_eq!(change(&c, "2026-03-01T00:00:00Z").as_deref(), Some("2026-03-01T07:30:00.000Z"));

    // An interval ending in the gap closes at the jump; one lying inside it never opens.
    let ends_in_gap = calendar(json!({
        "time_zone": "America/New_York",
        "weekly": { "sunday": [{"start": "01:00", "end": "02:30"}, {"start": "04:00", "end": "05:00"}] }
    }));
    assert!(ends_in_gap.is_open(ts("2026-03-08T06:59:59Z")));
    assert!(!ends_in_gap.is_open(ts("2026-03-08T07:00:00Z")));
    assert_eq!(change(&ends_in_gap, "2026-03-08T06:30:00Z").as_deref(), Some("2026-03-08T07:00:00.000Z"));
    let inside_gap = calendar(json!({
        "time_zone": "America/New_York",
        "weekly": { "sunday": [{"start": "02:10", "end": "02:50"}] }
    }));
    assert!(!inside_gap.is_open(ts("2026-03-08T07:00:00Z")));
    assert_eq!(
        change(&inside_gap, "2026-03-08T00:00:00Z").as_deref(),
        Some("2026-03-15T06:10:00.000Z"),
        "skips the day whose hours do not exist"
    );
}

#[test]
fn new_york_fall_back() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST, at 06:00 UTC; 01:00-02:00 local happens twice.
    let c = calendar(json!({
        "time_zone": "America/New_York",
        "weekly": { "sunday": [{"start": "00:30", "end": "01:30"}, {"start": "09:00", "end": "17:00"}] }
    }));
    assert!(!c.is_open(ts("2026-11-01T04:29:59Z")), "00:29 EDT");
    assert!(c.is_open(ts("2026-11-01T04:30:00Z")), "00:30 EDT");
    assert!(c.is_open(ts("2026-11-01T05:45:00Z")), "01:45 EDT, between the two 01:30s");
    assert!(c.is_open(ts("2026-11-01T06:15:00Z")), "01:15 EST, the repeat");
    assert!(!c.is_open(ts("2026-11-01T06:30:00Z")), "closes at the second 01:30");
    assert_eq!(change(&c, "2026-11-01T04:30:00Z").as_deref(), Some("2026-11-01T06:30:00.000Z"));
    // Daytime hours move with the clock: 09:00 EST is 14:00 UTC (it was 13:00 UTC a week earlier).
    assert_eq!(change(&c, "2026-11-01T06:30:00Z").as_deref(), Some("2026-11-01T14:00:00.000Z"));
    assert_eq!(change(&c, "2026-10-25T06:00:00Z").as_deref(), Some("2026-10-25T13:00:00.000Z"));

    // An interval starting in the repeat opens at the first occurrence.
    let starts_in_repeat = calendar(json!({
        "time_zone": "America/New_York",
        "weekly": { "sunday": [{"start": "01:30", "end": "03:00"}] }
    }));
    assert_eq!(change(&starts_in_repeat, "2026-11-01T00:00:00Z").as_deref(), Some("2026-11-01T05:30:00.000Z"));
    assert_eq!(change(&starts_in_repeat, "2026-11-01T05:30:00Z").as_deref(), Some("2026-11-01T08:00:00.000Z"));
}

#[test]
fn berlin_changes_in_both_directions() {
    let c = calendar(json!({
        "time_zone": "Europe/Berlin",
        "weekly": every_day(json!([{"start": "00:00", "end": "24:00"}])),
        "holidays": [{"date": "2026-03-29", "hours": [{"start": "01:00", "end": "04:00"}]},
                     {"date": "2026-10-25", "hours": [{"start": "02:15", "end": "02:45"}]}]
    }));
    // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC. 01:00-04:00 local is 00:00-02:00 UTC, two hours.
    assert_eq!(change(&c, "2026-03-28T12:00:00Z").as_deref(), Some("2026-03-28T23:00:00.000Z"), "midnight CET");
    assert_eq!(change(&c, "2026-03-28T23:00:00Z").as_deref(), Some("2026-03-29T00:00:00.000Z"));
    assert_eq!(change(&c, "2026-03-29T00:00:00Z").as_deref(), Some("2026-03-29T02:00:00.000Z"));
    assert_eq!(change(&c, "2026-03-29T02:00:00Z").as_deref(), Some("2026-03-29T22:00:00.000Z"), "midnight CEST");
    // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC. 02:15 first happens at 00:15 UTC and 02:45 last
    // happens at 01:45 UTC.
    assert!(c.is_open(ts("2026-10-25T00:15:00Z")));
    assert!(c.is_open(ts("2026-10-25T01:00:00Z")), "02:00 CET, inside the span");
    assert!(!c.is_open(ts("2026-10-25T01:45:00Z")));
    assert_eq!(change(&c, "2026-10-24T21:00:00Z").as_deref(), Some("2026-10-24T22:00:00.000Z"));
    assert_eq!(change(&c, "2026-10-24T22:00:00Z").as_deref(), Some("2026-10-25T00:15:00.000Z"));
    assert_eq!(change(&c, "2026-10-25T00:15:00Z").as_deref(), Some("2026-10-25T01:45:00.000Z"));
    assert_eq!(change(&c, "2026-10-25T01:45:00Z").as_deref(), Some("2026-10-25T23:00:00.000Z"), "midnight CET");
}

#[test]
fn always_open_and_never_open_have_no_changes() {
    let always = Calendar::always_open();
    assert!(always.is_open(ts("2026-03-08T07:00:00Z")));
    assert_eq!(always.next_change(ts("2026-03-08T07:00:00Z")), None);
    assert_eq!(always.next_open(ts("2026-03-08T07:00:00Z")), Some(ts("2026-03-08T07:00:00Z")));

    let never = calendar(json!({"time_zone": "UTC"}));
    assert!(!never.is_open(ts("2026-03-08T07:00:00Z")));
    assert_eq!(never.next_change(ts("2026-03-08T07:00:00Z")), None);
    assert_eq!(never.next_open(ts("2026-03-08T07:00:00Z")), None);

    // A 24/7 calendar with a closed holiday changes twice around it.
    let mut spec = always.to_spec();
    spec.holidays.push(serde_json::from_value(json!({"date": "2026-07-04"})).unwrap());
    let c = Calendar::new(&spec).unwrap();
    assert_eq!(change(&c, "2026-01-01T00:00:00Z").as_deref(), Some("2026-07-04T00:00:00.000Z"));
    assert_eq!(change(&c, "2026-07-04T00:00:00Z").as_deref(), Some("2026-07-05T00:00:00.000Z"));
    assert_eq!(change(&c, "2026-07-05T00:00:00Z"), None);
}

#[test]
fn next_change_stops_at_the_horizon() {
    // A single open date more than 400 days ahead is beyond the search.
    let c = calendar(json!({
        "time_zone": "UTC",
        "holidays": [{"date": "2026-06-01", "hours": [{"start": "09:00", "end": "10:00"}]}]
    }));
    assert_eq!(change(&c, "2026-01-01T00:00:00Z").as_deref(), Some("2026-06-01T09:00:00.000Z"));
    assert_eq!(change(&c, "2025-01-01T00:00:00Z"), None);
}

#[test]
fn json_round_trips_normalized() {
    let v = json!({
        "time_zone": "Europe/Berlin",
        "weekly": {"monday": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}]},
        "holidays": [{"date": "2026-12-26"}, {"date": "2026-12-25", "name": "Christmas Day"}]
    });
    let c: Calendar = serde_json::from_value(v).unwrap();
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({
            "time_zone": "Europe/Berlin",
            "weekly": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]},
            "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}, {"date": "2026-12-26"}]
        })
    );
    let bad = serde_json::from_value::<Calendar>(json!({"time_zone": "Mars/Olympus"})).unwrap_err().to_string();
    assert!(bad.starts_with("invalid_calendar: "), "{bad}");
    let unknown = serde_json::from_value::<Calendar>(json!({"time_zone": "UTC", "weekly": {"funday": []}}));
    assert!(unknown.is_err());
}

#[test]
fn each_validation_error_names_its_entry() {
    let day = |name: &str, hours: &[(&str, &str)]| {
        let hours: Vec<_> = hours.iter().map(|(s, e)| json!({"start": s, "end": e})).collect();
        json!({"time_zone": "UTC", "weekly": {name: hours}})
    };
    let holidays = |h: serde_json::Value| json!({"time_zone": "UTC", "holidays": h});
    let cases = [
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"time_zone": ""}), "time_zone"),
        (day("monday", &[("17:00", "09:00")]), "weekly.monday[0]"),
        (day("friday", &[("09:00", "09:00")]), "weekly.friday[0]"),
        (day("tuesday", &[("09:00", "12:00"), ("11:00", "13:00")]), "weekly.tuesday[1]"),
        (day("tuesday", &[("11:00", "13:00"), ("09:00", "17:00")]), "weekly.tuesday[0]"),
        (day("sunday", &[("25:00", "26:00")]), "weekly.sunday[0].start"),
        (day("sunday", &[("24:00", "24:00")]), "weekly.sunday[0].start"),
        (day("sunday", &[("08:00", "8pm")]), "weekly.sunday[0].end"),
        (day("sunday", &[("08:00", "24:30")]), "weekly.sunday[0].end"),
        (holidays(json!([{"date": "2026-02-30"}])), "holidays[0].date"),
        (holidays(json!([{"date": "26-12-25"}])), "holidays[0].date"),
        (holidays(json!([{"date": "2026-12-25"}, {"date": "2026-12-25"}])), "holidays[1].date"),
        (
            holidays(json!([{"date": "2026-12-24", "hours": [{"start": "12:00", "end": "10:00"}]}])),
            "holidays[0].hours[0]",
        ),
    ];
    for (spec, field) in cases {
        let (code, got, detail) = error(spec.clone());
        assert_eq!(code, Code::InvalidCalendar, "{spec}");
        assert_eq!(got, field, "{spec}: {detail}");
        assert!(detail.contains(field), "{detail}");
    }
    let (_, _, detail) = error(day("tuesday", &[("09:00", "12:00"), ("11:00", "13:00")]));
    assert!(detail.contains("overlaps weekly.tuesday[0] (09:00-12:00)"), "{detail}");
    // Touching intervals do not overlap.
    calendar(day("monday", &[("09:00", "12:00"), ("12:00", "13:00")]));
}

mod properties {
    use proptest::prelude::*;
    use switchboard_domain::{
        Timestamp,
        routing::calendar::{Calendar, CalendarSpec, HolidaySpec, HoursSpec, WeeklySpec},
    };

    // Zones with DST on either hemisphere, a half-hour change (Lord Howe) and none.
    const ZONES: [&str; 5] = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"];

    /// Valid, non-overlapping intervals on 15-minute marks: consecutive pairs of distinct sorted points.
    fn day() -> impl Strategy<Value = Vec<HoursSpec>> {
        prop::collection::btree_set(0u16..=96, 0..7).prop_map(|points| {
            let points: Vec<u16> = points.into_iter().map(|p| p * 15).collect();
            let time = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            points.chunks_exact(2).map(|p| HoursSpec { start: time(p[0]), end: time(p[1]) }).collect()
        })
    }

    fn calendar() -> impl Strategy<Value = Calendar> {
        (
            prop::sample::select(&ZONES[..]),
            prop::collection::vec(day(), 7),
            prop::collection::btree_map(0u32..365, day(), 0..4),
        )
            .prop_map(|(zone, days, holidays)| {
                let mut d = days.into_iter();
                let mut next = || d.next().unwrap_or_default();
                let weekly = WeeklySpec {
                    monday: next(),
                    tuesday: next(),
                    wednesday: next(),
                    thursday: next(),
                    friday: next(),
                    saturday: next(),
                    sunday: next(),
                };
                let holidays = holidays
                    .into_iter()
                    .map(|(ordinal, hours)| HolidaySpec {
                        date: chrono::NaiveDate::from_yo_opt(2026, ordinal + 1).unwrap().to_string(),
                        name: None,
                        hours,
                    })
                    .collect();
                Calendar::new(&CalendarSpec { time_zone: zone.to_string(), weekly, holidays }).unwrap()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// `next_change` is the first instant the answer of `is_open` flips, and nothing flips before it.
        #[test]
        fn next_change_is_where_is_open_flips(c in calendar(), offset_minutes in 0i64..(366 * 24 * 60)) {
            // 2026-01-01T00:00:00Z plus up to a year, at minute marks and a few odd milliseconds.
            let t = Timestamp::from_millis(1_767_225_600_000 + offset_minutes * 60_000 + offset_minutes % 7);
            let open = c.is_open(t);
            match c.next_change(t) {
                Some(change) => {
                    prop_assert!(change > t);
                    prop_assert_ne!(c.is_open(change), open, "no flip at {}", change);
                    let span = change.millis() - t.millis();
                    for k in 1..8 {
                        let s = Timestamp::from_millis(t.millis() + span * k / 8);
                        prop_assert_eq!(c.is_open(s), open, "flip before the change at {}", s);
                    }
                    prop_assert_eq!(c.is_open(change.plus_millis(-1)), open);
                    let next_open = c.next_open(t);
                    prop_assert_eq!(next_open, if open { Some(t) } else { Some(change) });
                }
                None => {
                    for day in 1..400 {
                        let s = t.plus_millis(day * 86_400_000 + day * 3_600_000 % 86_400_000);
                        prop_assert_eq!(c.is_open(s), open, "a flip at {} that next_change missed", s);
                    }
                }
            }
        }

        /// The JSON form round-trips to an equal calendar.
        #[test]
        fn json_round_trips(c in calendar()) {
            let json = serde_json::to_string(&c).unwrap();
            prop_assert_eq!(serde_json::from_str::<Calendar>(&json).unwrap(), c);
        }
    }
}
