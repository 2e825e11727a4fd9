//! Statistics as additive deltas per day × region × department × item. Deltas commute, so
//! projectors can add them in any order and rebuilds give the same totals.

use std::ops::AddAssign;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{DeptCode, ItemCode, RegionCode};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The counters of DOMAIN.md "Statistics". Gauges (open cases by light) are kept
        /// as +1/−1 changes on the day they happen, so a sum up to a day gives the gauge.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: i64,)*
        }

        impl Counters {
            /// The counters' names, in a fixed order (the order of [`Counters::values`]).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// The values, in the order of [`Counters::NAMES`].
            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$name,)*]
            }

            /// Counters from values in the order of [`Counters::NAMES`]; missing values are 0.
            pub fn from_values(values: &[i64]) -> Self {
                let mut values = values.iter().copied();
                Self { $($name: values.next().unwrap_or(0),)* }
            }
        }

        impl AddAssign<&Counters> for Counters {
            fn add_assign(&mut self, other: &Counters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Cases accepted (受理).
    accepted,
    /// Cases completed (办结), split below by timeliness.
    completed,
    /// Completed in fewer whole units than promised (提前办结).
    completed_early,
    /// Completed within the promised limit, not early.
    completed_on_time,
    /// Completed beyond the promised limit.
    completed_overdue,
    rejected,
    withdrawn,
    /// Working time used by completed cases, for the average.
    used_working_seconds,
    /// Open cases by light (changes).
    open_green,
    open_yellow,
    open_red,
    /// Warnings (预警) raised.
    warnings_raised,
    /// Cards (黄牌 and above) raised.
    cards_raised,
    /// Cards revoked on appeal or by supervision; counted apart from valid cards.
    cards_revoked,
    /// Alerts raised a level.
    cards_escalated,
    /// Alerts closed by supervision.
    alerts_closed,
    queries,
    appeals,
    rating_1,
    rating_2,
    rating_3,
    rating_4,
    rating_5,
    /// Decisions taken.
    decisions,
    /// Decisions signed off at the window (窗口直接签批).
    direct_decisions,
    /// Accepted cases that were submitted on the web or a mobile app.
    online_accepted,
    /// Fees charged, in fen.
    fees_charged_fen,
    /// Fee alerts raised (F1–F3).
    fee_anomalies,
}

impl Counters {
    /// Whether every counter is zero (such a delta need not be stored).
    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|value| *value == 0)
    }

    /// The rates the reports publish.
    pub fn rates(&self, day_seconds: i64) -> Rates {
        let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        Rates {
            on_time: ratio(
                self.completed_early + self.completed_on_time,
                self.completed,
            ),
            alert: ratio(self.cards_raised - self.cards_revoked, self.accepted),
            window_direct_signoff: ratio(self.direct_decisions, self.decisions),
            online: ratio(self.online_accepted, self.accepted),
            average_working_days: ratio(self.used_working_seconds, self.completed * day_seconds),
        }
    }
}

/// Derived rates; `None` where the denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// (early + on time) ÷ completed.
    pub on_time: Option<f64>,
    /// Valid cards (raised − revoked) ÷ accepted.
    pub alert: Option<f64>,
    /// 窗口直接签批率: direct decisions ÷ decisions.
    pub window_direct_signoff: Option<f64>,
    /// 网办率: online ÷ accepted.
    pub online: Option<f64>,
    /// Average working days used by completed cases.
    pub average_working_days: Option<f64>,
}

/// The last day statistics count on: days have four-digit years, as reports and the
/// views write them, so a change in the last hours of 9999 UTC, already 10000-01-01 in
/// China, counts on 9999-12-31.
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(day) => day,
    None => panic!("9999-12-31 is a date"),
};

/// Where a delta is counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatKey {
    /// The local date the change happened on, at most [`LAST_DAY`].
    pub day: NaiveDate,
    pub region_code: RegionCode,
    pub dept_code: DeptCode,
    pub item_code: ItemCode,
}

/// A change to the counters of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatDelta {
    pub key: StatKey,
    pub counters: Counters,
}

/// One row of a ranking (周排名).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankRow<K> {
    pub key: K,
    /// 1 for the best.
    pub rank: u32,
    pub on_time_rate: Option<f64>,
    pub alert_rate: Option<f64>,
    pub counters: Counters,
}

/// Ranks departments or counties: by on-time rate (higher first), then by alert rate (lower
/// first); rows without completed cases come last. Equal rates share a rank.
pub fn rank<K: Ord>(rows: Vec<(K, Counters)>, day_seconds: i64) -> Vec<RankRow<K>> {
    let mut rows: Vec<RankRow<K>> = rows
        .into_iter()
        .map(|(key, counters)| {
            let rates = counters.rates(day_seconds);
            RankRow {
                key,
                rank: 0,
                on_time_rate: rates.on_time,
                alert_rate: rates.alert,
                counters,
            }
        })
        .collect();
    let order = |row: &RankRow<K>| {
        (
            row.on_time_rate.map(|rate| -rate),
            row.alert_rate.unwrap_or(0.0),
        )
    };
    rows.sort_by(|a, b| {
        let (a_on_time, a_alert) = order(a);
        let (b_on_time, b_alert) = order(b);
        // `None` (nothing completed) sorts after every rate.
        let on_time = match (a_on_time, b_on_time) {
            (Some(a), Some(b)) => a.total_cmp(&b),
            (a, b) => b.is_some().cmp(&a.is_some()),
        };
        on_time
            .then(a_alert.total_cmp(&b_alert))
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut previous: Option<(Option<f64>, f64)> = None;
    let mut rank = 0;
    for (index, row) in rows.iter_mut().enumerate() {
        let current = order(row);
        if previous != Some(current) {
            rank = u32::try_from(index + 1).unwrap_or(u32::MAX);
            previous = Some(current);
        }
        row.rank = rank;
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_round_trip_through_values() {
        let mut total = Counters {
            accepted: 2,
            ..Counters::default()
        };
        total += &Counters {
            accepted: 1,
            rating_5: 1,
            ..Counters::default()
        };
        assert_eq!(total.accepted, 3);
        assert_eq!(Counters::from_values(&total.values()), total);
        assert_eq!(Counters::NAMES.len(), total.values().len());
        assert!(Counters::default().is_zero());
    }

    #[test]
    fn ranking_prefers_on_time_then_fewer_alerts() {
        let counters = |completed, on_time, accepted, cards| Counters {
            completed,
            completed_on_time: on_time,
            accepted,
            cards_raised: cards,
            ..Counters::default()
        };
        let ranked = rank(
            vec![
                ("a", counters(10, 9, 10, 1)),
                ("b", counters(10, 10, 10, 2)),
                ("c", counters(10, 9, 10, 0)),
                ("d", counters(0, 0, 5, 0)),
                ("e", counters(10, 9, 10, 0)),
            ],
            7 * 3600,
        );
        let order: Vec<(&str, u32)> = ranked.iter().map(|row| (row.key, row.rank)).collect();
        assert_eq!(
            order,
            vec![("b", 1), ("c", 2), ("e", 2), ("a", 4), ("d", 5)]
        );
    }
}
