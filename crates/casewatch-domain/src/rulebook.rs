//! The rule book: thresholds of the alert rules, per region and item, with a version, and
//! the facts about items that rules need (fees, required steps, separation of duties).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalogue::RuleId;
use crate::clock::DayCounting;
use crate::event::CaseType;
use crate::ids::{ItemCode, RegionCode};

/// The thresholds every rule compares against. Defaults follow DOMAIN.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// How limits in days are counted: `statutory` (the day of acceptance not counted; a
    /// limit ends at the close of its last working day) or `from_acceptance`.
    pub day_counting: DayCounting,
    /// T1: warn with this many promised working days left…
    pub t1_days_left: u32,
    /// …or with this many when the promised limit is at most `t1_short_limit_days`.
    pub t1_short_days_left: u32,
    /// T1: a promised limit of at most this many working days is a short one.
    pub t1_short_limit_days: u32,
    /// T7: the longest extension, in working days, for ordinary and for joint cases.
    pub t7_max_extension_days: u32,
    /// T7: the longest extension of a joint (联办) case, in working days.
    pub t7_max_extension_days_joint: u32,
    /// T7: how many extensions a case may have.
    pub t7_max_extensions: u32,
    /// T8: a correction notice must follow the materials within this many working days…
    pub t8_notice_within_days: u32,
    /// …and be given at most this many times (一次性告知).
    pub t8_max_notices: u32,
    /// C2: a step must be reported within this many working days of happening.
    pub c2_report_within_days: u32,
    /// C4: a gap in step numbers may stay open this many working hours.
    pub c4_gap_grace_hours: u32,
    /// K1: an appeal must be answered within these working days (yellow at the first,
    /// red at the second).
    pub k1_accept_within_days: u32,
    /// K1: past this many working days unanswered, the appeal's alert turns red.
    pub k1_answer_within_days: u32,
    /// K2: a rating at least this poor (4 or 5)…
    pub k2_min_level: u8,
    /// …must be followed up within this many working days.
    pub k2_follow_up_within_days: u32,
    /// Rules switched off here.
    pub disabled: BTreeSet<RuleId>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            day_counting: DayCounting::Statutory,
            t1_days_left: 2,
            t1_short_days_left: 1,
            t1_short_limit_days: 5,
            t7_max_extension_days: 10,
            t7_max_extension_days_joint: 15,
            t7_max_extensions: 1,
            t8_notice_within_days: 5,
            t8_max_notices: 1,
            c2_report_within_days: 1,
            c4_gap_grace_hours: 7,
            k1_accept_within_days: 5,
            k1_answer_within_days: 10,
            k2_min_level: 4,
            k2_follow_up_within_days: 5,
            disabled: BTreeSet::new(),
        }
    }
}

impl Thresholds {
    /// Whether `rule` is switched on.
    pub fn enabled(&self, rule: RuleId) -> bool {
        !self.disabled.contains(&rule)
    }

    /// T7's longest extension for a case type.
    pub fn max_extension_days(&self, case_type: Option<CaseType>) -> u32 {
        match case_type {
            Some(CaseType::Joint) => self.t7_max_extension_days_joint,
            _ => self.t7_max_extension_days,
        }
    }
}

/// A partial set of thresholds that overrides the defaults for a region or an item. Fields
/// left out keep the value from the level below.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdPatch {
    /// Replaces [`Thresholds::day_counting`] when given.
    pub day_counting: Option<DayCounting>,
    /// Replaces [`Thresholds::t1_days_left`] when given.
    pub t1_days_left: Option<u32>,
    /// Replaces [`Thresholds::t1_short_days_left`] when given.
    pub t1_short_days_left: Option<u32>,
    /// Replaces [`Thresholds::t1_short_limit_days`] when given.
    pub t1_short_limit_days: Option<u32>,
    /// Replaces [`Thresholds::t7_max_extension_days`] when given.
    pub t7_max_extension_days: Option<u32>,
    /// Replaces [`Thresholds::t7_max_extension_days_joint`] when given.
    pub t7_max_extension_days_joint: Option<u32>,
    /// Replaces [`Thresholds::t7_max_extensions`] when given.
    pub t7_max_extensions: Option<u32>,
    /// Replaces [`Thresholds::t8_notice_within_days`] when given.
    pub t8_notice_within_days: Option<u32>,
    /// Replaces [`Thresholds::t8_max_notices`] when given.
    pub t8_max_notices: Option<u32>,
    /// Replaces [`Thresholds::c2_report_within_days`] when given.
    pub c2_report_within_days: Option<u32>,
    /// Replaces [`Thresholds::c4_gap_grace_hours`] when given.
    pub c4_gap_grace_hours: Option<u32>,
    /// Replaces [`Thresholds::k1_accept_within_days`] when given.
    pub k1_accept_within_days: Option<u32>,
    /// Replaces [`Thresholds::k1_answer_within_days`] when given.
    pub k1_answer_within_days: Option<u32>,
    /// Replaces [`Thresholds::k2_min_level`] when given.
    pub k2_min_level: Option<u8>,
    /// Replaces [`Thresholds::k2_follow_up_within_days`] when given.
    pub k2_follow_up_within_days: Option<u32>,
    /// Replaces the set of switched-off rules when given.
    pub disabled: Option<BTreeSet<RuleId>>,
}

impl ThresholdPatch {
    /// `base` with this patch's values laid over it.
    pub fn apply(&self, base: &Thresholds) -> Thresholds {
        Thresholds {
            day_counting: self.day_counting.unwrap_or(base.day_counting),
            t1_days_left: self.t1_days_left.unwrap_or(base.t1_days_left),
            t1_short_days_left: self.t1_short_days_left.unwrap_or(base.t1_short_days_left),
            t1_short_limit_days: self.t1_short_limit_days.unwrap_or(base.t1_short_limit_days),
            t7_max_extension_days: self
                .t7_max_extension_days
                .unwrap_or(base.t7_max_extension_days),
            t7_max_extension_days_joint: self
                .t7_max_extension_days_joint
                .unwrap_or(base.t7_max_extension_days_joint),
            t7_max_extensions: self.t7_max_extensions.unwrap_or(base.t7_max_extensions),
            t8_notice_within_days: self
                .t8_notice_within_days
                .unwrap_or(base.t8_notice_within_days),
            t8_max_notices: self.t8_max_notices.unwrap_or(base.t8_max_notices),
            c2_report_within_days: self
                .c2_report_within_days
                .unwrap_or(base.c2_report_within_days),
            c4_gap_grace_hours: self.c4_gap_grace_hours.unwrap_or(base.c4_gap_grace_hours),
            k1_accept_within_days: self
                .k1_accept_within_days
                .unwrap_or(base.k1_accept_within_days),
            k1_answer_within_days: self
                .k1_answer_within_days
                .unwrap_or(base.k1_answer_within_days),
            k2_min_level: self.k2_min_level.unwrap_or(base.k2_min_level),
            k2_follow_up_within_days: self
                .k2_follow_up_within_days
                .unwrap_or(base.k2_follow_up_within_days),
            disabled: self
                .disabled
                .clone()
                .unwrap_or_else(|| base.disabled.clone()),
        }
    }
}

/// Thresholds for the cases of a region (by prefix) and/or an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// Applies to cases inside this region; any region when absent.
    pub region: Option<RegionCode>,
    /// Applies to cases of this item; any item when absent.
    pub item: Option<ItemCode>,
    /// The thresholds it changes.
    #[serde(flatten)]
    pub patch: ThresholdPatch,
}

impl RuleOverride {
    fn matches(&self, region: &RegionCode, item: &ItemCode) -> bool {
        self.region
            .as_ref()
            .is_none_or(|scope| scope.contains(region))
            && self.item.as_ref().is_none_or(|code| code == item)
    }

    /// More specific overrides apply later: an item beats a region, a deeper region beats
    /// a shallower one.
    fn specificity(&self) -> (bool, usize) {
        (
            self.item.is_some(),
            self.region
                .as_ref()
                .map_or(0, |region| region.significant().len()),
        )
    }
}

/// What the rules need to know about an item (事项) beyond what its steps report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemProfile {
    /// Whether the item charges fees at all (F1); when absent, the acceptance's
    /// `fee_required` decides.
    pub charges_fee: Option<bool>,
    /// The standard amount per fee code, in fen (F2); the ticket's own standard applies to
    /// codes not listed.
    pub fee_standards_fen: BTreeMap<String, u64>,
    /// Review step codes that must appear before completion (P2). When empty, any passed
    /// review is required for promised and joint cases.
    pub required_steps: Vec<String>,
    /// Whether acceptance and decision must be made by different people (P3); when absent,
    /// required for every case type but immediate (即办). Never required of a decision
    /// signed off at the window (窗口直接签批).
    pub separation_required: Option<bool>,
}

/// The versioned rule book: default thresholds, overrides and the item catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleBook {
    /// Raised whenever the book changes; every alert records the version that raised it.
    pub version: u32,
    /// The thresholds of every case no override matches.
    pub defaults: Thresholds,
    /// Thresholds for regions and items; the more specific applies over the less.
    pub overrides: Vec<RuleOverride>,
    /// What the rules know of each item; an item not listed has the default profile.
    pub items: BTreeMap<ItemCode, ItemProfile>,
}

impl Default for RuleBook {
    fn default() -> Self {
        Self {
            version: 1,
            defaults: Thresholds::default(),
            overrides: Vec::new(),
            items: BTreeMap::new(),
        }
    }
}

impl RuleBook {
    /// The thresholds for a case of `item` in `region`: the defaults, then every matching
    /// override from the least to the most specific.
    pub fn thresholds(&self, region: &RegionCode, item: &ItemCode) -> Thresholds {
        let mut matching: Vec<&RuleOverride> = self
            .overrides
            .iter()
            .filter(|rule| rule.matches(region, item))
            .collect();
        if matching.is_empty() {
            return self.defaults.clone();
        }
        matching.sort_by_key(|rule| rule.specificity());
        matching
            .into_iter()
            .fold(self.defaults.clone(), |thresholds, rule| {
                rule.patch.apply(&thresholds)
            })
    }

    /// The item's profile, or the empty profile for items the catalogue does not list.
    pub fn item(&self, item: &ItemCode) -> &ItemProfile {
        static EMPTY: ItemProfile = ItemProfile {
            charges_fee: None,
            fee_standards_fen: BTreeMap::new(),
            required_steps: Vec::new(),
            separation_required: None,
        };
        self.items.get(item).unwrap_or(&EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).expect("valid region")
    }

    fn item(code: &str) -> ItemCode {
        ItemCode::parse(code).expect("valid item")
    }

    #[test]
    fn the_most_specific_override_wins() {
        let book: RuleBook = toml::from_str(
            r#"
            version = 7
            [defaults]
            t1_days_left = 3

            [[overrides]]
            region = "330100"
            t1_days_left = 4
            t8_max_notices = 2

            [[overrides]]
            region = "330106"
            t1_days_left = 5

            [[overrides]]
            item = "ITEM-1"
            t1_days_left = 9
            disabled = ["C2"]
            "#,
        )
        .expect("valid rule book");
        assert_eq!(book.version, 7);
        let county = region("330106001");
        let elsewhere = region("440300");
        assert_eq!(book.thresholds(&elsewhere, &item("X")).t1_days_left, 3);
        let county_item = book.thresholds(&county, &item("X"));
        assert_eq!(county_item.t1_days_left, 5);
        assert_eq!(county_item.t8_max_notices, 2);
        let special = book.thresholds(&county, &item("ITEM-1"));
        assert_eq!(special.t1_days_left, 9);
        assert!(!special.enabled(RuleId::C2));
        assert!(special.enabled(RuleId::C3));
    }

    #[test]
    fn unknown_threshold_names_are_refused() {
        let error =
            toml::from_str::<RuleBook>("[defaults]\nt1_days = 3\n").expect_err("unknown field");
        assert!(error.to_string().contains("t1_days"), "{error}");
    }
}
