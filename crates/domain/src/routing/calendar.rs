//! Operating hours (reference §6.3): when a queue is open, in the queue's own time zone.
//!
//! A calendar is stored and sent as JSON ([`CalendarSpec`]) and validated into a [`Calendar`] once:
//!
//! ```json
//! {
//!   "time_zone": "America/New_York",
//!   "weekly": {
//!     "monday": [{ "start": "09:00", "end": "12:00" }, { "start": "13:00", "end": "17:00" }],
//!     "friday": [{ "start": "22:00", "end": "24:00" }],
//!     "saturday": [{ "start": "00:00", "end": "06:00" }]
//!   },
//!   "holidays": [
//!     { "date": "2026-12-25", "name": "Christmas Day" },
//!     { "date": "2026-12-24", "hours": [{ "start": "09:00", "end": "13:00" }] }
//!   ]
//! }
//! ```
//!
//! Times are local wall-clock times `HH:MM`; `24:00` may end an interval. A weekday that is absent, or has no
//! intervals, is closed. A holiday replaces the weekly hours of its date: with no `hours` it is closed all day.
//! An overnight shift is two intervals, one ending at `24:00` and one starting at `00:00` the next day; they join
//! into one open span, so no open/close change is reported at midnight.
//!
//! Daylight-saving time, where a local time does not map to exactly one instant:
//! - a time in a skipped hour (spring forward) maps to the first instant after the gap: an interval starting at
//!   02:30 on a day when 02:00 jumps to 03:00 opens at 03:00, and one ending at 02:30 closes at 03:00 (which is
//!   02:00 a moment earlier); an interval lying wholly inside the gap never opens;
//! - a time in a repeated hour (fall back) starts an interval at its first occurrence and ends one at its
//!   second, so an interval over the repeat covers both occurrences and stays open throughout.

use std::collections::BTreeMap;

use chrono::{Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Code, Error},
    text::coded,
    time::Timestamp,
};

/// Intervals on one weekday or one holiday: more is certainly a mistake.
pub const MAX_INTERVALS_PER_DAY: usize = 24;
/// Holidays in one calendar: about three years of bank holidays in any country, with room to spare.
pub const MAX_HOLIDAYS: usize = 1_000;
/// How far [`Calendar::next_change`] looks: a year plus a margin, so a calendar closed for a yearly holiday
/// season still finds its reopening.
pub const SEARCH_DAYS: u64 = 400;

pub(crate) const MINUTES_PER_DAY: u16 = 24 * 60;
const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// One `[start, end)` interval of local time, as written: `{"start": "09:00", "end": "17:00"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursSpec {
    /// Local time `HH:MM`, from `00:00` to `23:59`.
    #[schema(example = "09:00")]
    pub start: String,
    /// Local time `HH:MM`, after `start`; `24:00` is the end of the day.
    #[schema(example = "17:00")]
    pub end: String,
}

/// The open intervals of each weekday. A day that is absent or empty is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklySpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tuesday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wednesday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thursday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub friday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saturday: Vec<HoursSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sunday: Vec<HoursSpec>,
}

impl WeeklySpec {
    fn days(&self) -> [&Vec<HoursSpec>; 7] {
        [&self.monday, &self.tuesday, &self.wednesday, &self.thursday, &self.friday, &self.saturday, &self.sunday]
    }

    fn days_mut(&mut self) -> [&mut Vec<HoursSpec>; 7] {
        [
            &mut self.monday,
            &mut self.tuesday,
            &mut self.wednesday,
            &mut self.thursday,
            &mut self.friday,
            &mut self.saturday,
            &mut self.sunday,
        ]
    }
}

/// A date whose hours differ from the week's: closed all day when `hours` is absent or empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidaySpec {
    /// The local date, `YYYY-MM-DD`. Each date appears at most once.
    #[schema(example = "2026-12-25")]
    pub date: String,
    /// A label for admins; it does not change behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The date's own open intervals, replacing the weekly ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<HoursSpec>,
}

/// A calendar as written in JSON: see the [module documentation](self) for an example and the DST rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// An IANA time zone name, such as `Europe/Berlin` or `UTC`.
    #[schema(example = "America/New_York")]
    pub time_zone: String,
    #[serde(default)]
    pub weekly: WeeklySpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<HolidaySpec>,
}

/// A validated `[start, end)` interval of local time in minutes since midnight; `end` may be 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    start: u16,
    end: u16,
}

impl Interval {
    /// Minutes after local midnight when the interval opens.
    pub fn start_minute(self) -> u16 {
        self.start
    }

    /// Minutes after local midnight when the interval closes; 1440 is the next midnight.
    pub fn end_minute(self) -> u16 {
        self.end
    }

    fn spec(self) -> HoursSpec {
        HoursSpec { start: format_minutes(self.start), end: format_minutes(self.end) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Holiday {
    name: Option<String>,
    hours: Vec<Interval>,
}

/// Validated operating hours: a time zone, weekly intervals and holidays. Build one with [`Calendar::new`] (or
/// deserialize a [`CalendarSpec`]-shaped JSON value) and ask it [`is_open`](Calendar::is_open),
/// [`next_change`](Calendar::next_change) and [`next_open`](Calendar::next_open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct Calendar {
    time_zone: Tz,
    /// Monday first, as `Weekday::num_days_from_monday` counts.
    weekly: [Vec<Interval>; 7],
    holidays: BTreeMap<NaiveDate, Holiday>,
}

impl Calendar {
    /// Validates a calendar. Errors are `invalid_calendar` with a `field` naming the entry, such as
    /// `weekly.monday[1]`, `holidays[3].date` or `holidays[0].hours[1].end`.
    pub fn new(spec: &CalendarSpec) -> Result<Self, Error> {
        let time_zone: Tz = spec.time_zone.parse().map_err(|_| {
            invalid("time_zone", format!("`{}` is not an IANA time zone, such as `Europe/Berlin`", spec.time_zone))
        })?;
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        for (i, day) in spec.weekly.days().into_iter().enumerate() {
            weekly[i] = parse_day(&format!("weekly.{}", WEEKDAYS[i]), day)?;
        }
        if spec.holidays.len() > MAX_HOLIDAYS {
            return Err(invalid("holidays", format!("a calendar has at most {MAX_HOLIDAYS} holidays")));
        }
        let mut holidays = BTreeMap::new();
        for (i, h) in spec.holidays.iter().enumerate() {
            let field = format!("holidays[{i}]");
            let date = NaiveDate::parse_from_str(&h.date, "%Y-%m-%d")
                .ok()
                .filter(|_| h.date.len() == 10)
                .ok_or_else(|| invalid(&format!("{field}.date"), format!("`{}` is not a date YYYY-MM-DD", h.date)))?;
            let hours = parse_day(&format!("{field}.hours"), &h.hours)?;
            if holidays.insert(date, Holiday { name: h.name.clone(), hours }).is_some() {
                return Err(invalid(&format!("{field}.date"), format!("{date} is listed more than once")));
            }
        }
        Ok(Self { time_zone, weekly, holidays })
    }

    /// Open around the clock, every day, in UTC.
    pub fn always_open() -> Self {
        let all_day = vec![Interval { start: 0, end: MINUTES_PER_DAY }];
        Self { time_zone: Tz::UTC, weekly: std::array::from_fn(|_| all_day.clone()), holidays: BTreeMap::new() }
    }

    /// The calendar's time zone.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// The calendar in its JSON shape, normalized: intervals sorted, holidays by date.
    pub fn to_spec(&self) -> CalendarSpec {
        let mut weekly = WeeklySpec::default();
        for (day, hours) in weekly.days_mut().into_iter().zip(&self.weekly) {
            *day = hours.iter().map(|iv| iv.spec()).collect();
        }
        let holidays = self
            .holidays
            .iter()
            .map(|(date, h)| HolidaySpec {
                date: date.format("%Y-%m-%d").to_string(),
                name: h.name.clone(),
                hours: h.hours.iter().map(|iv| iv.spec()).collect(),
            })
            .collect();
        CalendarSpec { time_zone: self.time_zone.name().to_string(), weekly, holidays }
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let t = at.millis();
        let date = self.local_date(at);
        [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .any(|d| self.spans_on(d).any(|(start, end)| start <= t && t < end))
    }

    /// The first instant after `at` when the calendar opens or closes, or `None` when nothing changes within
    /// [`SEARCH_DAYS`] days (a calendar open around the clock, or one with no hours at all).
    pub fn next_change(&self, at: Timestamp) -> Option<Timestamp> {
        let t = at.millis();
        let first = self.local_date(at).pred_opt().unwrap_or(NaiveDate::MIN);
        // Spans that touch or overlap (an overnight shift across midnight, a fall-back repeat) are one open
        // period: their shared edge is not a change.
        let mut open: Option<(i64, i64)> = None;
        for date in first.iter_days().take(SEARCH_DAYS as usize + 2) {
            for (start, end) in self.spans_on(date) {
                match open {
                    Some((s, e)) if start <= e => open = Some((s, e.max(end))),
                    _ => {
                        if let Some((_, e)) = open
                            && t < e
                        {
                            return Some(Timestamp::from_millis(e));
                        }
                        if t < start {
                            return Some(Timestamp::from_millis(start));
                        }
                        open = Some((start, end));
                    }
                }
            }
        }
        // The last open period may run on past the horizon, so its end is not known to be a change.
        None
    }

    /// The earliest instant at or after `at` when the calendar is open: `at` itself when it is open now, `None`
    /// when it stays closed for [`SEARCH_DAYS`] days.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) { Some(at) } else { self.next_change(at) }
    }

    fn local_date(&self, at: Timestamp) -> NaiveDate {
        at.to_datetime().with_timezone(&self.time_zone).date_naive()
    }

    /// The local intervals that apply on a date: its holiday's when it is one, else its weekday's.
    pub fn hours_on(&self, date: NaiveDate) -> &[Interval] {
        match self.holidays.get(&date) {
            Some(h) => &h.hours,
            None => &self.weekly[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// The date's intervals as `[start, end)` epoch milliseconds, in order; intervals that vanish in a DST gap
    /// are left out.
    fn spans_on(&self, date: NaiveDate) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.hours_on(date).iter().filter_map(move |iv| {
            let start = self.instant(date, iv.start, Edge::Start)?;
            let end = self.instant(date, iv.end, Edge::End)?;
            (start < end).then_some((start, end))
        })
    }

    fn instant(&self, date: NaiveDate, minute: u16, edge: Edge) -> Option<i64> {
        local_instant(self.time_zone, date, minute, edge)
    }
}

/// Maps a local date and minute (up to 1440, the next midnight) to epoch milliseconds, resolving DST as the module
/// documentation says: a time in a gap is the instant the clocks jump, a repeated time is its first occurrence for
/// [`Edge::Start`] and its second for [`Edge::End`].
pub(crate) fn local_instant(time_zone: Tz, date: NaiveDate, minute: u16, edge: Edge) -> Option<i64> {
    let (date, minute) = if minute >= MINUTES_PER_DAY { (date.succ_opt()?, 0) } else { (date, minute) };
    let local = date.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
    match time_zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.timestamp_millis()),
        LocalResult::Ambiguous(a, b) => Some(match edge {
            Edge::Start => a.min(b).timestamp_millis(),
            Edge::End => a.max(b).timestamp_millis(),
        }),
        LocalResult::None => Some(end_of_gap(time_zone, local)),
    }
}

/// The first instant whose local time is after `local`, which falls in a gap: the instant the clocks jump.
fn end_of_gap(time_zone: Tz, local: NaiveDateTime) -> i64 {
    // Offsets lie within ±14 h and gaps last at most a day, so the jump is within 27 h of `local` read as UTC;
    // local time only moves forward there, which makes a binary search over seconds exact.
    let naive_secs = local.and_utc().timestamp();
    let (mut lo, mut hi) = (naive_secs - 27 * 3600, naive_secs + 27 * 3600);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let after = time_zone.timestamp_opt(mid, 0).single().is_some_and(|t| t.naive_local() >= local);
        if after { hi = mid } else { lo = mid + 1 }
    }
    lo * 1000
}

#[derive(Clone, Copy)]
pub(crate) enum Edge {
    Start,
    End,
}

impl TryFrom<CalendarSpec> for Calendar {
    type Error = String;
    fn try_from(spec: CalendarSpec) -> Result<Self, String> {
        Calendar::new(&spec).map_err(|e| coded(e.code, e.detail))
    }
}

impl From<Calendar> for CalendarSpec {
    fn from(c: Calendar) -> Self {
        c.to_spec()
    }
}

impl utoipa::PartialSchema for Calendar {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <CalendarSpec as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Calendar {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <CalendarSpec as utoipa::ToSchema>::schemas(schemas);
    }
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> Error {
    Error::field(Code::InvalidCalendar, field, format!("`{field}`: {detail}"))
}

fn parse_day(field: &str, hours: &[HoursSpec]) -> Result<Vec<Interval>, Error> {
    if hours.len() > MAX_INTERVALS_PER_DAY {
        return Err(invalid(field, format!("a day has at most {MAX_INTERVALS_PER_DAY} intervals")));
    }
    let mut parsed = Vec::with_capacity(hours.len());
    for (i, h) in hours.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let start = parse_minutes(&h.start).filter(|m| *m < MINUTES_PER_DAY).ok_or_else(|| {
            invalid(&format!("{at}.start"), format!("`{}` is not a time from 00:00 to 23:59", h.start))
        })?;
        let end = parse_minutes(&h.end)
            .ok_or_else(|| invalid(&format!("{at}.end"), format!("`{}` is not a time from 00:00 to 24:00", h.end)))?;
        if end <= start {
            let what = if end == start { "is empty" } else { "ends before it starts" };
            return Err(invalid(&at, format!("{what} ({}-{})", h.start, h.end)));
        }
        parsed.push((Interval { start, end }, i));
    }
    parsed.sort();
    for pair in parsed.windows(2) {
        let ((earlier, earlier_index), (later, later_index)) = (pair[0], pair[1]);
        if later.start < earlier.end {
            return Err(invalid(
                &format!("{field}[{later_index}]"),
                format!(
                    "{}-{} overlaps {field}[{earlier_index}] ({}-{})",
                    format_minutes(later.start),
                    format_minutes(later.end),
                    format_minutes(earlier.start),
                    format_minutes(earlier.end)
                ),
            ));
        }
    }
    Ok(parsed.into_iter().map(|(iv, _)| iv).collect())
}

/// `HH:MM` to minutes since midnight, up to `24:00`.
fn parse_minutes(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= MINUTES_PER_DAY).then_some(minutes)
}

fn format_minutes(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_strictly() {
        assert_eq!(parse_minutes("00:00"), Some(0));
        assert_eq!(parse_minutes("09:30"), Some(570));
        assert_eq!(parse_minutes("24:00"), Some(1440));
        for bad in ["24:01", "25:00", "9:00", "09:60", "0900", "09:0", "+9:00", "09:00:00", ""] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
    }
}
