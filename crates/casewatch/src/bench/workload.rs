//! The benchmark's workload: the simulator's counties scaled up to the number of events
//! asked for, as county systems would send them, and as the log would hold them.

use std::sync::Arc;

use casewatch_domain::Timestamp;
use casewatch_log::{Destination, NewRecord};
use casewatch_proto::pb;
use casewatch_sim::{Output, SimConfig, Simulator};
use prost::Message;

/// Counties reporting, and the working days new cases arrive on.
const COUNTIES: usize = 6;
const DAYS: u32 = 20;
/// Steps a simulated case has, on average (a little under eight).
const STEPS_PER_CASE: usize = 7;

/// One step as a county system sends it.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) event: pb::CaseEvent,
    /// When, in the simulated city, it reaches Casewatch.
    pub(crate) recorded_at: Timestamp,
}

/// A seeded, time-ordered stream of steps, with the clock ticks between them.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) steps: Arc<[Step]>,
    /// Clock ticks: `(steps before it, instant)`.
    ticks: Vec<(usize, Timestamp)>,
}

impl Workload {
    /// The first `events` steps of a simulation big enough to have them.
    pub(crate) fn generate(seed: u64, events: usize) -> Self {
        let per_day = events.div_ceil(COUNTIES * DAYS as usize * STEPS_PER_CASE);
        let simulator = Simulator::new(SimConfig {
            seed,
            days: DAYS,
            counties: COUNTIES,
            cases_per_county_day: u32::try_from(per_day.max(1)).unwrap_or(u32::MAX),
            ..SimConfig::default()
        });
        let mut steps = Vec::with_capacity(events);
        let mut ticks = Vec::new();
        for output in simulator {
            if steps.len() == events {
                break;
            }
            match output {
                Output::Step { event, recorded_at } => steps.push(Step {
                    event: pb::CaseEvent::from(*event),
                    recorded_at,
                }),
                Output::Tick(at) => ticks.push((steps.len(), at)),
            }
        }
        Self {
            steps: steps.into(),
            ticks,
        }
    }

    /// The smallest, mean and largest encoded event, in bytes.
    pub(crate) fn event_sizes(&self) -> (usize, usize, usize) {
        let sizes = self.steps.iter().map(|step| step.event.encoded_len());
        let (min, max, sum) = sizes.fold((usize::MAX, 0, 0), |(min, max, sum), size| {
            (min.min(size), max.max(size), sum + size)
        });
        (min, sum / self.steps.len().max(1), max)
    }

    /// The log as ingest would have written it: every step as its record, with a clock tick
    /// on every partition between them, in batches of at most `batch` records.
    pub(crate) fn log_batches(
        &self,
        partitions: u32,
        batch: usize,
    ) -> impl Iterator<Item = Vec<NewRecord>> + '_ {
        let mut ticks = self.ticks.iter().peekable();
        // Each step after the ticks due before it; `None` stands for the end, after which
        // the last ticks come.
        let mut records = self
            .steps
            .iter()
            .map(Some)
            .chain([None])
            .enumerate()
            .flat_map(move |(index, step)| {
                let mut records = Vec::new();
                while let Some((_, at)) = ticks.next_if(|(before, _)| *before <= index) {
                    records.extend(tick_records(*at, partitions));
                }
                records.extend(step.map(|step| step_record(step, step.recorded_at)));
                records
            });
        std::iter::from_fn(move || {
            let chunk: Vec<NewRecord> = records.by_ref().take(batch).collect();
            (!chunk.is_empty()).then_some(chunk)
        })
    }
}

/// The record ingest appends for `step`, received at `recorded_at`.
pub(crate) fn step_record(step: &Step, recorded_at: Timestamp) -> NewRecord {
    casewatch_server::case_event_record(
        &step.event.case_no,
        &step.event.event_id,
        &step.event.encode_to_vec(),
        recorded_at,
        Vec::new(),
    )
}

/// A clock tick at `at` on every partition, as the ticker appends it.
fn tick_records(at: Timestamp, partitions: u32) -> impl Iterator<Item = NewRecord> {
    let bytes = casewatch_proto::encode_tick(at, "casewatch bench");
    (0..partitions).map(move |partition| NewRecord {
        destination: Destination::Partition(partition),
        bytes: bytes.clone(),
        idempotency_key: None,
        headers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_has_the_events_asked_for_and_ticks_between_them() {
        let workload = Workload::generate(7, 2000);
        assert_eq!(workload.steps.len(), 2000);
        let (min, mean, max) = workload.event_sizes();
        assert!(
            min <= mean && mean <= max && min > 100,
            "{min} {mean} {max}"
        );
        let records: Vec<NewRecord> = workload.log_batches(4, 300).flatten().collect();
        let ticks = records
            .iter()
            .filter(|record| matches!(record.destination, Destination::Partition(_)))
            .count();
        assert_eq!(records.len() - ticks, 2000);
        assert_eq!(ticks, workload.ticks.len() * 4);
        assert!(ticks > 0);
        assert!(workload.log_batches(4, 300).all(|batch| batch.len() <= 300));
    }
}
