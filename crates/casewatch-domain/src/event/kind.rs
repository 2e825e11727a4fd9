//! The kinds of step, without what each carries: how the archive and the statistics name
//! a step.

use std::fmt;
use std::str::FromStr;

use super::Step;

macro_rules! step_kinds {
    ($($kind:ident => $name:literal,)*) => {
        /// A kind of [`Step`], named as in the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum StepKind {
            $(
                #[doc = concat!("`", $name, "`")]
                $kind,
            )*
        }

        impl StepKind {
            /// Every kind, in the catalogue's order.
            pub const ALL: &[StepKind] = &[$(StepKind::$kind,)*];

            /// The kind's name in the catalogue, as used in logs, the archive and
            /// statistics.
            pub fn name(self) -> &'static str {
                match self {
                    $(StepKind::$kind => $name,)*
                }
            }
        }

        impl Step {
            /// The step's kind.
            pub fn kind(&self) -> StepKind {
                match self {
                    $(Step::$kind { .. } => StepKind::$kind,)*
                }
            }
        }
    };
}

step_kinds! {
    Submitted => "submitted",
    Accepted => "accepted",
    Rejected => "rejected",
    CorrectionRequested => "correction_requested",
    CorrectionReceived => "correction_received",
    Reviewed => "reviewed",
    Decided => "decided",
    SpecialProcedureStarted => "special_procedure_started",
    SpecialProcedureEnded => "special_procedure_ended",
    Suspended => "suspended",
    Resumed => "resumed",
    FeeCharged => "fee_charged",
    Completed => "completed",
    Delivered => "delivered",
    Withdrawn => "withdrawn",
    Queried => "queried",
    Appealed => "appealed",
    AppealResolved => "appeal_resolved",
    Rated => "rated",
    RatingFollowedUp => "rating_followed_up",
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no step kind of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is no kind of step")]
pub struct UnknownStepKind(pub String);

impl FromStr for StepKind {
    type Err = UnknownStepKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        StepKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
            .ok_or_else(|| UnknownStepKind(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_name_and_nothing_else_does() {
        for kind in StepKind::ALL {
            assert_eq!(kind.name().parse::<StepKind>(), Ok(*kind));
        }
        assert_eq!(
            "supervision".parse::<StepKind>(),
            Err(UnknownStepKind("supervision".to_owned()))
        );
    }
}
