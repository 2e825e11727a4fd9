//! `RuleThresholds` ↔ the domain's `ThresholdPatch`.

use casewatch_domain::ValidationError;
use casewatch_domain::catalogue::RuleId;
use casewatch_domain::clock::DayCounting;
use casewatch_domain::rulebook::ThresholdPatch;

use crate::convert::rating_field;
use crate::pb;

impl TryFrom<pb::RuleThresholds> for ThresholdPatch {
    type Error = ValidationError;

    /// Errors name the field relative to the thresholds: `disabled.rule_codes[1]`.
    fn try_from(thresholds: pb::RuleThresholds) -> Result<Self, ValidationError> {
        let k2_min_level = thresholds
            .k2_min_level
            .map(|level| rating_field("k2_min_level", level).map(u8::from))
            .transpose()?;
        let disabled = thresholds
            .disabled
            .map(|disabled| {
                disabled
                    .rule_codes
                    .iter()
                    .enumerate()
                    .map(|(index, code)| {
                        code.parse::<RuleId>().map_err(|error| {
                            ValidationError::new(
                                format!("disabled.rule_codes[{index}]"),
                                error.to_string(),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()
            })
            .transpose()?;
        let day_counting = match pb::DayCounting::try_from(thresholds.day_counting) {
            Ok(pb::DayCounting::Unspecified) => None,
            Ok(pb::DayCounting::Statutory) => Some(DayCounting::Statutory),
            Ok(pb::DayCounting::FromAcceptance) => Some(DayCounting::FromAcceptance),
            Err(_) => {
                return Err(ValidationError::new(
                    "day_counting",
                    format!("unknown value {}", thresholds.day_counting),
                ));
            }
        };
        Ok(ThresholdPatch {
            day_counting,
            t1_days_left: thresholds.t1_days_left,
            t1_short_days_left: thresholds.t1_short_days_left,
            t1_short_limit_days: thresholds.t1_short_limit_days,
            t7_max_extension_days: thresholds.t7_max_extension_days,
            t7_max_extension_days_joint: thresholds.t7_max_extension_days_joint,
            t7_max_extensions: thresholds.t7_max_extensions,
            t8_notice_within_days: thresholds.t8_notice_within_days,
            t8_max_notices: thresholds.t8_max_notices,
            c2_report_within_days: thresholds.c2_report_within_days,
            c4_gap_grace_hours: thresholds.c4_gap_grace_hours,
            k1_accept_within_days: thresholds.k1_accept_within_days,
            k1_answer_within_days: thresholds.k1_answer_within_days,
            k2_min_level,
            k2_follow_up_within_days: thresholds.k2_follow_up_within_days,
            disabled,
        })
    }
}

impl From<ThresholdPatch> for pb::RuleThresholds {
    fn from(patch: ThresholdPatch) -> Self {
        pb::RuleThresholds {
            t1_days_left: patch.t1_days_left,
            t1_short_days_left: patch.t1_short_days_left,
            t1_short_limit_days: patch.t1_short_limit_days,
            t7_max_extension_days: patch.t7_max_extension_days,
            t7_max_extension_days_joint: patch.t7_max_extension_days_joint,
            t7_max_extensions: patch.t7_max_extensions,
            t8_notice_within_days: patch.t8_notice_within_days,
            t8_max_notices: patch.t8_max_notices,
            c2_report_within_days: patch.c2_report_within_days,
            c4_gap_grace_hours: patch.c4_gap_grace_hours,
            k1_accept_within_days: patch.k1_accept_within_days,
            k1_answer_within_days: patch.k1_answer_within_days,
            k2_min_level: patch.k2_min_level.map(u32::from),
            k2_follow_up_within_days: patch.k2_follow_up_within_days,
            disabled: patch.disabled.map(|rules| pb::DisabledRules {
                rule_codes: rules.iter().map(|rule| rule.code().to_owned()).collect(),
            }),
            day_counting: match patch.day_counting {
                None => pb::DayCounting::Unspecified,
                Some(DayCounting::Statutory) => pb::DayCounting::Statutory,
                Some(DayCounting::FromAcceptance) => pb::DayCounting::FromAcceptance,
            }
            .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_rules_are_a_set_that_may_be_empty() {
        let patch = ThresholdPatch::try_from(pb::RuleThresholds {
            disabled: Some(pb::DisabledRules { rule_codes: vec![] }),
            ..Default::default()
        })
        .expect("valid thresholds");
        assert_eq!(patch.disabled, Some(Default::default()));
        let patch = ThresholdPatch::try_from(pb::RuleThresholds::default()).expect("valid");
        assert_eq!(patch, ThresholdPatch::default());
    }

    #[test]
    fn errors_name_the_field() {
        let error = ThresholdPatch::try_from(pb::RuleThresholds {
            disabled: Some(pb::DisabledRules {
                rule_codes: vec!["C2".into(), "Z1".into()],
            }),
            ..Default::default()
        })
        .expect_err("unknown rule");
        assert_eq!(
            error.to_string(),
            "disabled.rule_codes[1]: unknown rule `Z1`"
        );
        let error = ThresholdPatch::try_from(pb::RuleThresholds {
            k2_min_level: Some(7),
            ..Default::default()
        })
        .expect_err("not a rating");
        assert_eq!(error.to_string(), "k2_min_level: must be 1 to 5, got 7");
    }
}
