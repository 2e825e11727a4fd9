//! The projector's instruments.

use crate::fold::Quarantined;

/// The projector's instruments, from the global meter provider (a no-op until the binary
/// installs one).
#[derive(Debug)]
pub(crate) struct Metrics {
    quarantined: opentelemetry::metrics::Counter<u64>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let meter = opentelemetry::global::meter("casewatch-projector");
        Self {
            quarantined: meter
                .u64_counter("casewatch.projector.records_quarantined")
                .with_unit("{record}")
                .with_description(
                    "Records the projector could not read and quarantined; \
                     `case_alerted` false means no case was alerted and an operator must look",
                )
                .build(),
        }
    }

    /// Counts a committed batch's quarantined records.
    pub(crate) fn quarantined(&self, partition: u32, quarantined: &Quarantined) {
        for (count, case_alerted) in [(quarantined.alerted, true), (quarantined.unplaced, false)] {
            if count > 0 {
                self.quarantined.add(
                    count,
                    &[
                        opentelemetry::KeyValue::new("partition", i64::from(partition)),
                        opentelemetry::KeyValue::new("case_alerted", case_alerted),
                    ],
                );
            }
        }
    }
}
