//! Planned maintenance windows: the syntax (`Mon-Fri 01:50-02:30 Asia/Seoul`, or a one-off
//! start and end), which connectors a window applies to, and when its occurrences start and end
//! in Unix time. Pure: `now` is an argument, the zone rules come from the IANA database.
//!
//! A weekly window belongs to the day it starts on; an end earlier than the start crosses
//! midnight. On a DST night every wall-clock minute of the window is covered: a start in the
//! skipped hour is the moment of the change (when the wall clock first reads at or after it,
//! as cron runs such jobs); an end in the skipped hour is read with the offset before the
//! change (02:30 becomes 03:30 daylight time, as RFC 5545 reads such times, so a window that
//! starts before the change keeps its length); in the repeated hour a start is its first
//! instance and an end its second (01:30-02:30 on a fall-back night lasts two hours).

use std::fmt::Write as _;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

use crate::core::Millis;

/// Shown with every syntax error.
pub const ACCEPTED: &str = "accepted: \"DAYS HH:MM-HH:MM ZONE\", e.g. \"Mon-Sun 01:50-02:30 Asia/Seoul\"; DAYS is daily, a range (Mon-Sun, Mon-Fri, Sat-Sun, Fri-Mon) or a list (Mon,Wed,Fri; items may be ranges), days as Mon Tue Wed Thu Fri Sat Sun; HH:MM is 00:00-23:59 and an end before the start crosses midnight (23:30-00:30); ZONE is an IANA zone (Asia/Seoul, America/New_York, UTC). A one-off window in the config file: start = \"2026-12-24T01:00:00+09:00\" and end = \"2026-12-24T04:00:00+09:00\"";

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// When a window happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every selected weekday (index 0 = Monday), from `start` to `end` local time in `tz`.
    Weekly {
        days: [bool; 7],
        start: NaiveTime,
        end: NaiveTime,
        tz: Tz,
    },
    /// Once, between two absolute times.
    Once {
        start: DateTime<FixedOffset>,
        end: DateTime<FixedOffset>,
    },
}

/// One maintenance window and the connectors it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub schedule: Schedule,
    /// Connector names; with `targets` also empty, the window applies to every connector.
    pub connectors: Vec<String>,
    /// Target labels (`db:1521/PDB1`, as in `cdc_sentinel_connector_target_info`).
    pub targets: Vec<String>,
    /// Where it was given (`--maintenance`, `--config c.toml [[maintenance]] #2`).
    pub source: String,
}

/// One occurrence of a window, in Unix milliseconds: `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    pub start: Millis,
    pub end: Millis,
}

/// Parses an RFC 3339 time with its offset (a one-off window's start or end).
pub fn parse_instant(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        format!("{e}: expected a date and time with its offset, like 2026-12-24T01:00:00+09:00 or 2026-12-23T16:00:00Z")
    })
}

/// Parses `DAYS HH:MM-HH:MM ZONE`. The error says what is wrong; callers add [`ACCEPTED`].
pub fn parse_when(s: &str) -> Result<Schedule, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [days, times, zone] = parts[..] else {
        return Err(format!(
            "expected three parts (days, times, time zone), found {}; {ACCEPTED}",
            parts.len()
        ));
    };
    let days = parse_days(days).map_err(|e| format!("{e}; {ACCEPTED}"))?;
    let (start, end) = parse_times(times).map_err(|e| format!("{e}; {ACCEPTED}"))?;
    let tz: Tz = zone.parse().map_err(|_| {
        format!("{zone:?} is not an IANA time zone (abbreviations like KST and offsets like +09:00 are not: they do not know the DST rules); {ACCEPTED}")
    })?;
    Ok(Schedule::Weekly {
        days,
        start,
        end,
        tz,
    })
}

fn day_index(s: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("{s:?} is not a day (Mon Tue Wed Thu Fri Sat Sun)"))
}

fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    if s.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    for item in s.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day_index(a)?, day_index(b)?);
                let mut i = a;
                loop {
                    days[i] = true;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None if item.is_empty() => return Err(format!("{s:?} has an empty day")),
            None => days[day_index(item)?] = true,
        }
    }
    Ok(days)
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let bad = || format!("{s:?} is not a time HH:MM between 00:00 and 23:59");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

fn parse_times(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a time range HH:MM-HH:MM"))?;
    let (start, end) = (parse_time(a)?, parse_time(b)?);
    if start == end {
        return Err(format!("{s:?} is empty: the start and end are the same"));
    }
    Ok((start, end))
}

fn millis<Z: TimeZone>(t: &DateTime<Z>) -> Millis {
    t.timestamp_millis().max(0) as Millis
}

fn to_utc(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms as i64).unwrap_or_default()
}

/// The instant a local wall-clock time denotes; see the module docs for DST nights.
fn resolve(tz: Tz, local: NaiveDateTime, is_start: bool) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            Some(if is_start { a.min(b) } else { a.max(b) })
        }
        LocalResult::None => {
            // Skipped by a DST change: find the first wall-clock minute that exists again.
            let mut after = local;
            let change = loop {
                after += Duration::minutes(1);
                if after - local > Duration::hours(25) {
                    return None;
                }
                if let Some(t) = tz.from_local_datetime(&after).earliest() {
                    break t.with_timezone(&Utc);
                }
            };
            if is_start {
                return Some(change);
            }
            let before = tz
                .offset_from_utc_datetime(&(change - Duration::seconds(1)).naive_utc())
                .fix();
            before
                .from_local_datetime(&local)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

impl Schedule {
    /// The occurrence that starts on local date `d` (weekly windows), if any.
    fn on_date(&self, d: NaiveDate) -> Option<Occurrence> {
        let Schedule::Weekly {
            days,
            start,
            end,
            tz,
        } = self
        else {
            return None;
        };
        if !days[d.weekday().num_days_from_monday() as usize] {
            return None;
        }
        let end_date = if end <= start { d.succ_opt()? } else { d };
        let s = resolve(*tz, d.and_time(*start), true)?;
        let e = resolve(*tz, end_date.and_time(*end), false)?;
        (e > s).then(|| Occurrence {
            start: millis(&s),
            end: millis(&e),
        })
    }

    /// Occurrences that have not ended by `after`, in order, at most `n`.
    pub fn next(&self, after: Millis, n: usize) -> Vec<Occurrence> {
        match self {
            Schedule::Once { start, end } => {
                let o = Occurrence {
                    start: millis(start),
                    end: millis(end),
                };
                if o.end > after && n > 0 {
                    vec![o]
                } else {
                    vec![]
                }
            }
            Schedule::Weekly { tz, .. } => {
                let today = to_utc(after).with_timezone(tz).date_naive();
                let mut out = Vec::with_capacity(n);
                let mut d = today - Duration::days(1);
                // Every day of the week is tried at most once per occurrence wanted.
                for _ in 0..(7 * n + 8) {
                    if out.len() >= n {
                        break;
                    }
                    if let Some(o) = self.on_date(d) {
                        if o.end > after {
                            out.push(o);
                        }
                    }
                    match d.succ_opt() {
                        Some(x) => d = x,
                        None => break,
                    }
                }
                out
            }
        }
    }

    /// The occurrence under way at `now`, if any.
    pub fn active_at(&self, now: Millis) -> Option<Occurrence> {
        match self {
            Schedule::Once { .. } => self.next(now, 1).into_iter().find(|o| o.start <= now),
            Schedule::Weekly { tz, .. } => {
                let today = to_utc(now).with_timezone(tz).date_naive();
                (-2..=0)
                    .filter_map(|k| self.on_date(today + Duration::days(k)))
                    .filter(|o| o.start <= now && now < o.end)
                    .max_by_key(|o| o.end)
            }
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Weekly {
                days,
                start,
                end,
                tz,
            } => {
                let d = if days.iter().all(|x| *x) {
                    "daily".to_string()
                } else {
                    // Runs of days as ranges: Mon-Fri, Sat-Sun, Mon,Wed,Fri.
                    let mut parts = Vec::new();
                    let mut i = 0;
                    while i < 7 {
                        if !days[i] {
                            i += 1;
                            continue;
                        }
                        let mut j = i;
                        while j + 1 < 7 && days[j + 1] {
                            j += 1;
                        }
                        parts.push(if j > i {
                            format!("{}-{}", DAY_NAMES[i], DAY_NAMES[j])
                        } else {
                            DAY_NAMES[i].to_string()
                        });
                        i = j + 1;
                    }
                    parts.join(",")
                };
                write!(
                    f,
                    "{d} {}-{} {}",
                    start.format("%H:%M"),
                    end.format("%H:%M"),
                    tz.name()
                )
            }
            Schedule::Once { start, end } => {
                write!(f, "once {} to {}", start.to_rfc3339(), end.to_rfc3339())
            }
        }
    }
}

impl Window {
    /// A global window applies to every connector; otherwise to the named connectors and to
    /// every connector whose database target is one of `targets`.
    pub fn applies_to(&self, connector: &str, target: Option<&str>) -> bool {
        (self.connectors.is_empty() && self.targets.is_empty())
            || self.connectors.iter().any(|c| c == connector)
            || target.is_some_and(|t| self.targets.iter().any(|x| x == t))
    }

    /// `every connector`, `connectors inv, crm; targets db:1521/PDB1`.
    pub fn scope(&self) -> String {
        if self.connectors.is_empty() && self.targets.is_empty() {
            return "every connector".into();
        }
        let mut parts = Vec::new();
        if !self.connectors.is_empty() {
            parts.push(format!("connectors {}", self.connectors.join(", ")));
        }
        if !self.targets.is_empty() {
            parts.push(format!("targets {}", self.targets.join(", ")));
        }
        parts.join("; ")
    }
}

/// When the maintenance of a connector ends, if a window applies to it at `now`. Windows that
/// overlap or touch count as one: the end is that of the last of them.
pub fn active_until(
    windows: &[Window],
    connector: &str,
    target: Option<&str>,
    now: Millis,
) -> Option<Millis> {
    let mine: Vec<&Window> = windows
        .iter()
        .filter(|w| w.applies_to(connector, target))
        .collect();
    let mut until: Option<Millis> = None;
    let mut t = now;
    // Bounded: each round moves `t` to a later end.
    for _ in 0..64 {
        let end = mine
            .iter()
            .filter_map(|w| w.schedule.active_at(t))
            .map(|o| o.end)
            .max();
        match end {
            Some(e) if until < Some(e) => {
                until = Some(e);
                t = e;
            }
            _ => break,
        }
    }
    until
}

fn span(ms: Millis) -> String {
    let m = ms / 60_000;
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

fn fmt_pair<Z: TimeZone>(a: DateTime<Z>, b: DateTime<Z>) -> String
where
    Z::Offset: std::fmt::Display,
{
    let end = if a.date_naive() == b.date_naive() {
        b.format("%H:%M %Z").to_string()
    } else {
        b.format("%a %Y-%m-%d %H:%M %Z").to_string()
    };
    format!("{} -> {end}", a.format("%a %Y-%m-%d %H:%M %Z"))
}

/// The `cdc-sentinel windows` listing: each window, its scope, and its next `count`
/// occurrences in its own zone and in UTC.
pub fn describe(windows: &[Window], from: Millis, count: usize) -> String {
    let mut s = String::new();
    if windows.is_empty() {
        s.push_str(
            "no maintenance windows (give --maintenance or [[maintenance]] tables in --config)\n",
        );
        return s;
    }
    for (i, w) in windows.iter().enumerate() {
        let _ = writeln!(
            s,
            "window {}: {}  ({}; from {})",
            i + 1,
            w.schedule,
            w.scope(),
            w.source
        );
        let next = w.schedule.next(from, count);
        if next.is_empty() {
            let _ = writeln!(
                s,
                "  no occurrence after {}",
                to_utc(from).format("%Y-%m-%d %H:%M UTC")
            );
        }
        for o in next {
            let (a, b) = (to_utc(o.start), to_utc(o.end));
            let local = match &w.schedule {
                Schedule::Weekly { tz, .. } => fmt_pair(a.with_timezone(tz), b.with_timezone(tz)),
                Schedule::Once { start, .. } => {
                    let off = *start.offset();
                    fmt_pair(a.with_timezone(&off), b.with_timezone(&off))
                }
            };
            let now = if o.start <= from { "  (under way)" } else { "" };
            let _ = writeln!(
                s,
                "  {local}   = {}  ({}){now}",
                fmt_pair(a, b),
                span(o.end - o.start)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> Millis {
        millis(&DateTime::parse_from_rfc3339(rfc3339).unwrap())
    }

    fn global(when: &str) -> Window {
        Window {
            schedule: parse_when(when).unwrap(),
            connectors: vec![],
            targets: vec![],
            source: "--maintenance".into(),
        }
    }

    fn days(s: &str) -> String {
        match parse_when(&format!("{s} 01:00-02:00 UTC")).unwrap() {
            Schedule::Weekly { days, .. } => DAY_NAMES
                .iter()
                .zip(days)
                .filter(|(_, on)| *on)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(","),
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_accepted_day_form_parses() {
        assert_eq!(days("Mon-Sun"), "Mon,Tue,Wed,Thu,Fri,Sat,Sun");
        assert_eq!(days("daily"), "Mon,Tue,Wed,Thu,Fri,Sat,Sun");
        assert_eq!(days("Daily"), "Mon,Tue,Wed,Thu,Fri,Sat,Sun");
        assert_eq!(days("Mon,Wed,Fri"), "Mon,Wed,Fri");
        assert_eq!(days("Sat-Sun"), "Sat,Sun");
        assert_eq!(days("Mon-Fri"), "Mon,Tue,Wed,Thu,Fri");
        assert_eq!(days("Fri-Mon"), "Mon,Fri,Sat,Sun", "a range may wrap");
        assert_eq!(days("mon-wed,SAT"), "Mon,Tue,Wed,Sat");
    }

    #[test]
    fn times_and_zone_are_parsed() {
        let s = parse_when("Mon-Sun 01:50-02:30 Asia/Seoul").unwrap();
        assert_eq!(s.to_string(), "daily 01:50-02:30 Asia/Seoul");
        let s = parse_when("Mon,Wed,Fri  9:05-23:59  UTC").unwrap();
        assert_eq!(s.to_string(), "Mon,Wed,Fri 09:05-23:59 UTC");
        let s = parse_when("Sat-Sun,mon-fri 01:00-02:00 UTC").unwrap();
        assert_eq!(s.to_string(), "daily 01:00-02:00 UTC");
        let s = parse_when("Fri-Tue 01:00-02:00 Europe/Berlin").unwrap();
        assert_eq!(s.to_string(), "Mon-Tue,Fri-Sun 01:00-02:00 Europe/Berlin");
    }

    #[test]
    fn bad_syntax_says_what_is_wrong_and_shows_the_accepted_forms() {
        for (input, what) in [
            ("Mon-Sun 01:50-02:30", "three parts"),
            ("Mon-Sun 01:50-02:30 Asia/Seoul extra", "three parts"),
            ("Monday 01:50-02:30 UTC", "\"Monday\" is not a day"),
            ("Mon-Sn 01:50-02:30 UTC", "\"Sn\" is not a day"),
            ("Mon,,Fri 01:50-02:30 UTC", "empty day"),
            ("daily 01:50 UTC", "not a time range"),
            ("daily 1:5-02:30 UTC", "\"1:5\" is not a time"),
            ("daily 24:00-02:30 UTC", "\"24:00\" is not a time"),
            ("daily 01:60-02:30 UTC", "\"01:60\" is not a time"),
            ("daily 02:30-02:30 UTC", "empty"),
            ("daily 01:50-02:30 KST", "\"KST\" is not an IANA time zone"),
            ("daily 01:50-02:30 +09:00", "not an IANA time zone"),
            ("daily 01:50-02:30 Asia/Seul", "not an IANA time zone"),
        ] {
            let e = parse_when(input).unwrap_err();
            assert!(e.contains(what), "{input}: {e}");
            assert!(
                e.contains("Mon-Sun 01:50-02:30 Asia/Seoul") && e.contains("Mon,Wed,Fri"),
                "{input}: the accepted forms are shown: {e}"
            );
        }
    }

    #[test]
    fn seoul_nightly_window_in_utc() {
        let w = global("Mon-Sun 01:50-02:30 Asia/Seoul");
        // 2026-11-21 12:00 UTC is 21:00 in Seoul: tonight's window is 01:50 KST on the 22nd.
        let o = w.schedule.next(ms("2026-11-21T12:00:00Z"), 2);
        assert_eq!(
            o,
            vec![
                Occurrence {
                    start: ms("2026-11-21T16:50:00Z"),
                    end: ms("2026-11-21T17:30:00Z")
                },
                Occurrence {
                    start: ms("2026-11-22T16:50:00Z"),
                    end: ms("2026-11-22T17:30:00Z")
                },
            ]
        );
        let at = |t: &str| active_until(std::slice::from_ref(&w), "inv", None, ms(t));
        assert_eq!(at("2026-11-21T16:49:59Z"), None);
        assert_eq!(at("2026-11-21T16:50:00Z"), Some(ms("2026-11-21T17:30:00Z")));
        assert_eq!(at("2026-11-21T17:29:59Z"), Some(ms("2026-11-21T17:30:00Z")));
        assert_eq!(at("2026-11-21T17:30:00Z"), None, "the end is exclusive");
    }

    #[test]
    fn weekdays_are_the_days_the_window_starts_on() {
        // 2026-11-20 is a Friday.
        let w = global("Mon-Fri 23:30-00:30 UTC");
        let o = w.schedule.next(ms("2026-11-20T01:00:00Z"), 2);
        assert_eq!(o[0].start, ms("2026-11-20T23:30:00Z"));
        assert_eq!(o[0].end, ms("2026-11-21T00:30:00Z"), "crosses midnight");
        assert_eq!(o[1].start, ms("2026-11-23T23:30:00Z"), "next is Monday's");
        // Saturday 00:10 is still inside Friday's window.
        let ws = [w];
        assert_eq!(
            active_until(&ws, "inv", None, ms("2026-11-21T00:10:00Z")),
            Some(ms("2026-11-21T00:30:00Z"))
        );
        assert_eq!(
            active_until(&ws, "inv", None, ms("2026-11-21T23:40:00Z")),
            None
        );
    }

    #[test]
    fn new_york_spring_forward_night() {
        // 2026-03-08 02:00 EST becomes 03:00 EDT; 02:30 does not exist that night.
        let w = global("daily 01:30-02:30 America/New_York");
        let o = w.schedule.next(ms("2026-03-06T12:00:00Z"), 3);
        assert_eq!(o[0].start, ms("2026-03-07T01:30:00-05:00"));
        assert_eq!(o[0].end - o[0].start, 3_600_000, "the day before: one hour");
        assert_eq!(o[1].start, ms("2026-03-08T01:30:00-05:00"));
        assert_eq!(
            o[1].end,
            ms("2026-03-08T03:30:00-04:00"),
            "an end in the skipped hour keeps the window's length"
        );
        assert_eq!(o[2].start, ms("2026-03-09T01:30:00-04:00"));
        // A window that starts in the skipped hour starts at the change (03:00 EDT).
        let w = global("daily 02:15-03:30 America/New_York");
        let o = w.schedule.next(ms("2026-03-08T00:00:00-05:00"), 1);
        assert_eq!(o[0].start, ms("2026-03-08T03:00:00-04:00"));
        assert_eq!(o[0].end, ms("2026-03-08T03:30:00-04:00"));
    }

    #[test]
    fn new_york_fall_back_night() {
        // 2026-11-01 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
        let w = global("daily 01:30-02:30 America/New_York");
        let o = w.schedule.next(ms("2026-11-01T00:00:00-04:00"), 2);
        assert_eq!(o[0].start, ms("2026-11-01T01:30:00-04:00"), "first 01:30");
        assert_eq!(o[0].end, ms("2026-11-01T02:30:00-05:00"));
        assert_eq!(o[0].end - o[0].start, 2 * 3_600_000);
        assert_eq!(o[1].start, ms("2026-11-02T01:30:00-05:00"));
        // An end in the repeated hour is its second instance.
        let w = global("daily 00:30-01:30 America/New_York");
        let o = w.schedule.next(ms("2026-11-01T00:00:00-04:00"), 1);
        assert_eq!(o[0].end, ms("2026-11-01T01:30:00-05:00"));
        // Held through both 01:45s.
        let ws = [global("daily 01:30-02:30 America/New_York")];
        for t in ["2026-11-01T01:45:00-04:00", "2026-11-01T01:45:00-05:00"] {
            assert_eq!(
                active_until(&ws, "inv", None, ms(t)),
                Some(ms("2026-11-01T02:30:00-05:00")),
                "{t}"
            );
        }
    }

    #[test]
    fn scope_by_connector_and_target() {
        let mut w = global("daily 01:00-02:00 UTC");
        w.connectors = vec!["inv".into()];
        w.targets = vec!["db:1521/PDB1".into()];
        assert!(w.applies_to("inv", None));
        assert!(w.applies_to("crm", Some("db:1521/PDB1")));
        assert!(!w.applies_to("crm", Some("other:1521")));
        assert!(!w.applies_to("crm", None));
        assert!(global("daily 01:00-02:00 UTC").applies_to("anything", None));
        let t = ms("2026-11-21T01:30:00Z");
        let ws = [w];
        assert!(active_until(&ws, "crm", Some("db:1521/PDB1"), t).is_some());
        assert!(active_until(&ws, "crm", Some("other:1521"), t).is_none());
    }

    #[test]
    fn touching_windows_end_with_the_last() {
        let ws = [
            global("daily 01:00-02:00 UTC"),
            global("daily 02:00-03:00 UTC"),
            global("daily 02:30-02:45 UTC"),
        ];
        assert_eq!(
            active_until(&ws, "inv", None, ms("2026-11-21T01:10:00Z")),
            Some(ms("2026-11-21T03:00:00Z"))
        );
    }

    #[test]
    fn listing_shows_local_time_and_utc() {
        let ws = [global("daily 23:30-00:30 Asia/Seoul")];
        let text = describe(&ws, ms("2026-11-21T12:00:00Z"), 2);
        assert!(
            text.contains(
                "window 1: daily 23:30-00:30 Asia/Seoul  (every connector; from --maintenance)"
            ),
            "{text}"
        );
        assert!(
            text.contains("Sat 2026-11-21 23:30 KST -> Sun 2026-11-22 00:30 KST   = Sat 2026-11-21 14:30 UTC -> 15:30 UTC  (1h)"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        let text = describe(&ws, ms("2026-11-21T14:40:00Z"), 1);
        assert!(text.contains("(under way)"), "{text}");
    }
}
