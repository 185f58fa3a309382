//! When a capacity profile's use comes back (reference §6.4, profile reset duration): when a conversation releases
//! it (`"on_release"`, the default), or only at fixed periods of local wall-clock time, whatever the conversations
//! did meanwhile:
//!
//! ```json
//! "reset": { "every_minutes": 1440, "time_zone": "Europe/Paris" }
//! ```
//!
//! `every_minutes` divides a day (1440): 60 is hourly, 1440 daily. Periods start at local midnight and every
//! `every_minutes` of local time after it, so an hourly period starts on every local hour and a 720-minute one at
//! local midnight and noon. Daylight-saving time is resolved as calendars resolve it (see
//! [`calendar`](super::calendar)): a boundary in a skipped hour is the instant the clocks jump (so the periods on
//! either side of the gap are shorter, and boundaries inside one gap fall together), and a boundary in a repeated
//! hour is its first occurrence (so the period across the repeat is longer). `time_zone` is an IANA name and
//! defaults to `UTC`.

use chrono::{NaiveDate, TimeDelta};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::calendar::{Edge, MINUTES_PER_DAY, local_instant};
use crate::{
    error::{Code, Error},
    text::coded,
    time::Timestamp,
};

/// A validated periodic reset: local periods of `every_minutes` from local midnight in `time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetPeriod {
    every_minutes: u16,
    time_zone: Tz,
}

impl ResetPeriod {
    /// A period of `every_minutes` (a divisor of 1440) in an IANA time zone. Errors are `invalid_capacity` on
    /// `reset.every_minutes` or `reset.time_zone`.
    pub fn new(every_minutes: i64, time_zone: &str) -> Result<Self, Error> {
        let every_minutes = u16::try_from(every_minutes)
            .ok()
            .filter(|n| *n > 0 && MINUTES_PER_DAY.is_multiple_of(*n))
            .ok_or_else(|| {
                invalid(
                    "reset.every_minutes",
                    format!(
                        "{every_minutes} does not divide a day: use a divisor of 1440 minutes, such as 60 (hourly) \
                         or 1440 (daily)"
                    ),
                )
            })?;
        let time_zone: Tz = time_zone.parse().map_err(|_| {
            invalid("reset.time_zone", format!("`{time_zone}` is not an IANA time zone, such as `Europe/Berlin`"))
        })?;
        Ok(Self { every_minutes, time_zone })
    }

    pub fn every_minutes(self) -> u16 {
        self.every_minutes
    }

    pub fn time_zone(self) -> Tz {
        self.time_zone
    }

    /// The `[start, end)` instants of the period that contains `at`.
    pub fn period(self, at: Timestamp) -> (Timestamp, Timestamp) {
        // Boundaries from the local midnight before `at`'s local date to the one two days after, in order: the
        // mapping from local to absolute time never goes backwards, so a binary search finds the period. A day
        // either side covers any offset change, since none moves local time by a day.
        let date = at.to_datetime().with_timezone(&self.time_zone).date_naive();
        let first = date.pred_opt().unwrap_or(date);
        let per_day = usize::from(MINUTES_PER_DAY / self.every_minutes);
        let count = 3 * per_day + 1;
        let boundary = |i: usize| -> i64 {
            let day = first.checked_add_signed(TimeDelta::days(i64::try_from(i / per_day).unwrap_or(0)));
            let minute = u16::try_from(i % per_day).unwrap_or(0) * self.every_minutes;
            day.and_then(|d: NaiveDate| local_instant(self.time_zone, d, minute, Edge::Start)).unwrap_or(i64::MAX)
        };
        let t = at.millis();
        // The first boundary after `at`; the one before it starts the period.
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if boundary(mid) <= t { lo = mid + 1 } else { hi = mid }
        }
        let start = if lo == 0 { i64::MIN } else { boundary(lo - 1) };
        let end = if lo >= count { i64::MAX } else { boundary(lo) };
        (Timestamp::from_millis(start), Timestamp::from_millis(end))
    }
}

/// When a capacity profile's use comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "ResetSpec", into = "ResetSpec")]
pub enum ProfileReset {
    /// When the conversation releases it (end, release, close, wrap-up blocking): use is what the agent holds.
    #[default]
    OnRelease,
    /// At each period's start: use is the conversations of the profile assigned to the agent since the current
    /// period began, and releasing one gives nothing back.
    Every(ResetPeriod),
}

impl ProfileReset {
    /// Reads a reset as the API receives it, naming the offending field from `reset` (`reset.every_minutes`,
    /// `reset.time_zone`, `reset.<unknown key>`); every error is `invalid_capacity`.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        use serde_json::Value;
        let shape = "`reset` is \"on_release\" or {\"every_minutes\": n, \"time_zone\": \"Europe/Paris\"}";
        match value {
            Value::String(s) if s == ON_RELEASE => Ok(Self::OnRelease),
            Value::Object(fields) => {
                if let Some(unknown) = fields.keys().find(|k| !matches!(k.as_str(), "every_minutes" | "time_zone")) {
                    return Err(invalid(&format!("reset.{unknown}"), format!("unknown field; {shape}")));
                }
                let minutes = match fields.get("every_minutes") {
                    Some(n) => n
                        .as_i64()
                        .ok_or_else(|| invalid("reset.every_minutes", "a whole number of minutes that divides 1440"))?,
                    None => return Err(invalid("reset.every_minutes", "required: minutes between resets")),
                };
                let time_zone = match fields.get("time_zone") {
                    None | Some(Value::Null) => "UTC",
                    Some(Value::String(tz)) => tz.as_str(),
                    Some(_) => {
                        return Err(invalid("reset.time_zone", "an IANA time zone name, such as `Europe/Paris`"));
                    }
                };
                Ok(Self::Every(ResetPeriod::new(minutes, time_zone)?))
            }
            _ => Err(invalid("reset", shape)),
        }
    }

    /// The periodic reset, if any.
    pub fn period(self) -> Option<ResetPeriod> {
        match self {
            Self::OnRelease => None,
            Self::Every(p) => Some(p),
        }
    }

    /// The reset in its JSON shape.
    pub fn to_spec(self) -> ResetSpec {
        match self {
            Self::OnRelease => ResetSpec::Named(ResetName::OnRelease),
            Self::Every(p) => ResetSpec::Every(EverySpec {
                every_minutes: i64::from(p.every_minutes),
                time_zone: p.time_zone.name().to_string(),
            }),
        }
    }
}

const ON_RELEASE: &str = "on_release";

/// A capacity profile's reset as written: `"on_release"` (the default), or periods of local wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ResetSpec {
    Named(ResetName),
    Every(EverySpec),
}

/// Use comes back when the conversation releases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResetName {
    OnRelease,
}

/// Use comes back at local midnight and every `every_minutes` after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EverySpec {
    /// Minutes between resets; a divisor of 1440 (60 is hourly, 1440 daily).
    #[schema(schema_with = every_minutes_schema)]
    pub every_minutes: i64,
    /// An IANA time zone name; `UTC` when absent.
    #[serde(default = "utc")]
    #[schema(example = "Europe/Paris")]
    pub time_zone: String,
}

/// The divisors of a day, the values `ResetPeriod::new` accepts.
fn every_minutes_schema() -> utoipa::openapi::schema::Object {
    let divisors: Vec<u16> = (1..=MINUTES_PER_DAY).filter(|n| MINUTES_PER_DAY.is_multiple_of(*n)).collect();
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .description(Some("Minutes between resets; a divisor of 1440 (60 is hourly, 1440 daily)"))
        .enum_values(Some(divisors))
        .examples([1440])
        .build()
}

fn utc() -> String {
    "UTC".to_string()
}

impl TryFrom<ResetSpec> for ProfileReset {
    type Error = String;
    fn try_from(spec: ResetSpec) -> Result<Self, String> {
        match spec {
            ResetSpec::Named(ResetName::OnRelease) => Ok(Self::OnRelease),
            ResetSpec::Every(e) => {
                ResetPeriod::new(e.every_minutes, &e.time_zone).map(Self::Every).map_err(|e| coded(e.code, e.detail))
            }
        }
    }
}

impl From<ProfileReset> for ResetSpec {
    fn from(r: ProfileReset) -> Self {
        r.to_spec()
    }
}

impl utoipa::PartialSchema for ProfileReset {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <ResetSpec as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for ProfileReset {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <ResetSpec as utoipa::ToSchema>::schemas(schemas);
    }
}

fn invalid(field: &str, detail: impl std::fmt::Display) -> Error {
    Error::field(Code::InvalidCapacity, field, format!("`{field}`: {detail}"))
}
