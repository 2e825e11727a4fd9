//! The alert rules of DOMAIN.md as a catalogue: each rule's code, the category of what it
//! watches and the level of the alerts it raises. How the rules judge a case lives in
//! `rules`, their thresholds in `rulebook`; this module depends on neither.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How serious an alert is. Ordered: a warning is below a yellow card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 预警.
    Warning,
    /// 黄牌.
    Yellow,
    /// 红牌.
    Red,
    /// 严重违规.
    Serious,
}

impl Level {
    /// The next level up, or `None` at the top.
    pub fn raised(self) -> Option<Level> {
        match self {
            Level::Warning => Some(Level::Yellow),
            Level::Yellow => Some(Level::Red),
            Level::Red => Some(Level::Serious),
            Level::Serious => None,
        }
    }

    /// Whether an alert of this level is a card (黄牌 or worse) rather than a warning.
    pub fn is_card(self) -> bool {
        self >= Level::Yellow
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 时效.
    Time,
    /// 流程.
    Procedure,
    /// 内容.
    Content,
    /// 收费.
    Fee,
    /// 廉政.
    Integrity,
    /// 投诉.
    Complaint,
    /// 督办: the follow-up of other alerts.
    Supervision,
}

macro_rules! rules {
    ($($(#[$doc:meta])* $id:ident => $category:ident, $level:ident;)*) => {
        /// The supervision rules of DOMAIN.md.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum RuleId {
            $($(#[$doc])* $id,)*
        }

        impl RuleId {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$id,)*];

            /// The rule's code, e.g. `T2`.
            pub fn code(self) -> &'static str {
                match self {
                    $(RuleId::$id => stringify!($id),)*
                }
            }

            /// The category of the alerts the rule raises.
            pub fn category(self) -> Category {
                match self {
                    $(RuleId::$id => Category::$category,)*
                }
            }

            /// The level of the alerts the rule raises.
            pub fn level(self) -> Level {
                match self {
                    $(RuleId::$id => Level::$level,)*
                }
            }
        }

    };
}

rules! {
    /// 临近到期: an open case with ≤ 2 promised working days left (≤ 1 when the limit is ≤ 5).
    T1 => Time, Warning;
    /// 超承诺时限: used time beyond the promised limit.
    T2 => Time, Yellow;
    /// 超法定时限: used time beyond the legal limit; also a yellow card past its feedback
    /// due date turning red.
    T3 => Time, Red;
    /// 环节超时: one step over its own limit while the case is still in time.
    T4 => Time, Warning;
    /// 即办件未当日办结: an immediate case not completed on its acceptance day.
    T5 => Time, Yellow;
    /// 特别程序超时: a special procedure open past its approved length, or ended without a
    /// result; also a suspension (挂起) past its requested days, or past the legal limit's
    /// length when none were requested.
    T6 => Time, Yellow;
    /// 延期不当: an extension too long, more than one extension, or one without an approver.
    T7 => Procedure, Yellow;
    /// 补正不当: a correction notice after 5 working days, or more than one (一次性告知).
    T8 => Procedure, Yellow;
    /// 无理由不予受理/不予许可: a rejection or denial without a reason.
    T9 => Procedure, Yellow;
    /// 程序倒置: decision or completion before acceptance, a step after a terminal step, or a
    /// step dated before the previous one.
    P1 => Procedure, Red;
    /// 缺少必经环节: a step the item requires missing at completion.
    P2 => Procedure, Yellow;
    /// 受审不分离: the same person accepts and decides where the item requires separation.
    P3 => Integrity, Warning;
    /// 挂起期间办理: activity while suspended, or completion while a special procedure is open.
    P4 => Procedure, Yellow;
    /// 违规收费: a fee charged on an item that charges none.
    F1 => Fee, Red;
    /// 超标收费: an amount above its standard, or a completion total unlike the tickets' sum.
    F2 => Fee, Red;
    /// 未执行一票制: a fee collected outside the unified ticket.
    F3 => Fee, Yellow;
    /// 内容缺失: required content missing, or a promised limit above the legal limit.
    C1 => Content, Warning;
    /// 迟报/补录: a step reported more than 1 working day after it happened.
    C2 => Content, Warning;
    /// 数据篡改: the same (case, seq) re-sent with different content.
    C3 => Content, Red;
    /// 数据缺失: a gap in a case's step numbers still open after the grace period.
    C4 => Content, Warning;
    /// 记录不可读: a record of this case on the log could not be read (undecodable,
    /// invalid, or not keyed by its case); it is quarantined.
    C5 => Content, Red;
    /// 投诉未答复: an appeal not accepted within 5 working days (yellow), not answered
    /// within 10 (red).
    K1 => Complaint, Yellow;
    /// 差评未整改: a rating of 4–5 not followed up within 5 working days.
    K2 => Complaint, Yellow;
    /// 督办超期: no feedback by a notice's due date; the alert goes up one level.
    A1 => Supervision, Yellow;
}

impl RuleId {
    /// Whether the rule reports a fault of the system rather than of a department (C5: a
    /// record Casewatch could not read). Its alerts are for operators and auditors: they
    /// count in no department's statistics and light no case.
    pub fn is_system(self) -> bool {
        self == RuleId::C5
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a text is not a rule's code: no rule of the catalogue has it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule `{0}`")]
pub struct UnknownRule(String);

impl FromStr for RuleId {
    type Err = UnknownRule;
    fn from_str(code: &str) -> Result<Self, UnknownRule> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|rule| rule.code() == code)
            .ok_or_else(|| UnknownRule(code.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_have_the_catalogue_levels() {
        assert_eq!(RuleId::ALL.len(), 24);
        assert_eq!(RuleId::T3.level(), Level::Red);
        assert_eq!(
            (RuleId::C5.category(), RuleId::C5.level()),
            (Category::Content, Level::Red)
        );
        assert_eq!(RuleId::P3.category(), Category::Integrity);
        assert!(Level::Warning < Level::Yellow && Level::Red < Level::Serious);
    }
}
