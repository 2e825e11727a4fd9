//! The read models' messages built from domain values (one way: views are never input).

use casewatch_domain::alert::{Alert, Notice};

use crate::convert::{ProtoEnum, timestamp_to_pb};
use crate::pb;

impl From<&Alert> for pb::Alert {
    /// Leaves `cursor` and `change` unset: the alert feed sets them.
    fn from(alert: &Alert) -> Self {
        pb::Alert {
            id: alert.id.to_string(),
            rule: alert.id.rule.code().to_owned(),
            category: alert.category.to_pb(),
            level: alert.level.to_pb(),
            state: alert.state.to_pb(),
            case_no: alert.id.case_no.to_string(),
            region_code: alert.region_code.to_string(),
            dept_code: alert.dept_code.to_string(),
            item_code: alert.item_code.to_string(),
            measured: Some(alert.measured.into()),
            threshold: Some(alert.threshold.into()),
            subject: alert.subject.clone(),
            detail: alert.detail.clone(),
            seq: alert.seq,
            rules_version: alert.rules_version,
            calendar_version: alert.calendar_version,
            raised_at: Some(timestamp_to_pb(alert.raised_at)),
            updated_at: Some(timestamp_to_pb(alert.updated_at)),
            notice: alert.notice.as_ref().map(pb::Notice::from),
            appealed: alert.appealed,
            cursor: 0,
            change: pb::AlertChangeKind::Unspecified.into(),
        }
    }
}

impl From<&Notice> for pb::Notice {
    fn from(notice: &Notice) -> Self {
        pb::Notice {
            content: notice.content.clone(),
            issued_at: Some(timestamp_to_pb(notice.issued_at)),
            issued_by: notice.issued_by.clone(),
            feedback_due: Some(timestamp_to_pb(notice.feedback_due)),
            overdue_escalated: notice.overdue_escalated,
        }
    }
}

#[cfg(test)]
mod tests {
    use casewatch_domain::Timestamp;
    use casewatch_domain::alert::{AlertState, Quantity, QuantityUnit};
    use casewatch_domain::catalogue::{Category, Level};
    use casewatch_domain::ids::{AlertId, DeptCode, ItemCode, RegionCode};

    use super::*;

    #[test]
    fn alerts_carry_their_rule_and_case() {
        let at = Timestamp::from_timestamp(1_767_225_600, 0).expect("valid instant");
        let alert = Alert {
            id: "HZ/2026/0001/T2/1".parse::<AlertId>().expect("valid id"),
            category: Category::Time,
            level: Level::Yellow,
            state: AlertState::UnderNotice,
            region_code: RegionCode::parse("330106").expect("valid"),
            dept_code: DeptCode::parse("91440300708461136T").expect("valid"),
            item_code: ItemCode::parse("ITEM-1").expect("valid"),
            measured: Quantity::new(12, QuantityUnit::WorkingDays),
            threshold: Quantity::new(10, QuantityUnit::WorkingDays),
            subject: String::new(),
            detail: "used 12 working days of 10 promised".into(),
            seq: Some(7),
            rules_version: 3,
            calendar_version: 2,
            raised_at: at,
            updated_at: at,
            notice: Some(Notice {
                content: "回告".into(),
                issued_at: at,
                issued_by: "monitor-hz".into(),
                feedback_due: at,
                overdue_escalated: false,
            }),
            appealed: false,
            carded_at: Some(at),
            actions: Vec::new(),
        };
        let wire = pb::Alert::from(&alert);
        assert_eq!(wire.id, "HZ/2026/0001/T2/1");
        assert_eq!(wire.rule, "T2");
        assert_eq!(wire.case_no, "HZ/2026/0001");
        assert_eq!(wire.level(), pb::AlertLevel::Yellow);
        assert_eq!(wire.state(), pb::AlertState::UnderNotice);
        assert_eq!(wire.category(), pb::AlertCategory::Time);
        assert_eq!(
            wire.measured,
            Some(pb::Quantity {
                value: 12,
                unit: pb::QuantityUnit::WorkingDays.into()
            })
        );
        assert_eq!(wire.cursor, 0);
        assert_eq!((wire.rules_version, wire.calendar_version), (3, 2));
        assert_eq!(
            wire.notice.map(|notice| notice.issued_by),
            Some("monitor-hz".to_owned())
        );
    }
}
