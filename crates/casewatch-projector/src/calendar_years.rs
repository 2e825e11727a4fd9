//! Years the working calendars have no holiday data for. The domain's calendar counts such
//! a year Monday to Friday and, being pure, says nothing about it; the projector reports
//! each year it finds uncovered, once, for an operator to add that year's notice.

use std::collections::BTreeSet;

use casewatch_domain::Timestamp;
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_domain::case::Case;
use chrono::Datelike;
use tracing::warn;

/// The years a case's clock reads from `calendar` without data for them: from its first
/// step to the latest of `as_of` and its due instants.
pub(crate) fn uncovered_years(
    case: &Case,
    calendar: &WorkingCalendar,
    as_of: Timestamp,
    dues: [Option<Timestamp>; 2],
) -> impl Iterator<Item = i32> {
    let first = [case.submitted_at, case.accepted_at, case.last_step_at]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(as_of);
    let last = dues.into_iter().flatten().fold(as_of, Timestamp::max);
    let years = calendar.local_date(first).year()..=calendar.local_date(last).year();
    years.filter(|year| !calendar.covers(*year))
}

/// The uncovered years reported so far, so that each is reported once.
#[derive(Debug, Default)]
pub(crate) struct Reported(BTreeSet<i32>);

impl Reported {
    /// Logs a warning for each of `years` not reported before.
    pub(crate) fn report(&mut self, years: &BTreeSet<i32>) {
        for &year in years {
            if self.0.insert(year) {
                warn!(
                    year,
                    "no holiday data for this year: counting Monday to Friday as working days"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use casewatch_domain::case::Policy;
    use casewatch_domain::event::CaseEvent;
    use casewatch_tests::{acceptance, local, submission};

    use super::*;

    fn case(steps: &[casewatch_proto::pb::CaseEvent]) -> Case {
        let policy = Policy::default();
        let steps: Vec<CaseEvent> = steps
            .iter()
            .map(|step| CaseEvent::try_from(step.clone()).expect("a valid step"))
            .collect();
        let mut case = Case::new(&steps[0]);
        for step in &steps {
            case.handle_step(step, step.occurred_at, &policy);
        }
        case
    }

    #[test]
    fn a_case_reads_the_years_from_its_first_step_to_its_due_dates() {
        let calendar = WorkingCalendar::national();
        let covered = case(&[submission("C-1", "330106", local("2026-03-02 09:00"))]);
        let at = local("2026-03-02 09:00");
        assert_eq!(
            uncovered_years(&covered, &calendar, at, [None, None]).count(),
            0
        );
        // Accepted late in December: the legal due date falls in the next year.
        let accepted = local("2031-12-29 09:00");
        let late = case(&[
            submission("C-2", "330106", accepted),
            acceptance("C-2", "330106", accepted, 3),
        ]);
        let due = late.legal_due(&calendar);
        assert!(due.is_some_and(|due| calendar.local_date(due).year() == 2032));
        assert_eq!(
            uncovered_years(
                &late,
                &calendar,
                accepted,
                [late.promised_due(&calendar), due]
            )
            .collect::<Vec<_>>(),
            vec![2031, 2032]
        );
    }

    #[test]
    fn each_year_is_reported_once() {
        let mut reported = Reported::default();
        reported.report(&BTreeSet::from([2031, 2032]));
        reported.report(&BTreeSet::from([2032, 2033]));
        assert_eq!(reported.0, BTreeSet::from([2031, 2032, 2033]));
    }
}
