//! The sample log, folded through the domain the way the projector does, and what the
//! views must hold after it.

use super::*;

/// What a store should hold after a sequence of batches.
pub(super) struct Views {
    pub(super) cases: BTreeMap<String, CaseRow>,
    pub(super) archive: BTreeMap<Position, StepRow>,
    pub(super) links: BTreeMap<Position, ChainLink>,
    pub(super) checkpoints: BTreeMap<Partition, Checkpoint>,
    pub(super) alerts: BTreeSet<AlertId>,
}

impl Views {
    pub(super) fn of(batches: &[ViewBatch]) -> Self {
        let mut views = Views {
            cases: BTreeMap::new(),
            archive: BTreeMap::new(),
            links: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            alerts: BTreeSet::new(),
        };
        let mut pending: BTreeMap<(&str, u32), Position> = BTreeMap::new();
        for batch in batches {
            for row in &batch.cases {
                views
                    .cases
                    .insert(row.case.case_no.as_str().to_owned(), row.clone());
            }
            for step in &batch.steps {
                views.archive.insert(step.position, step.clone());
            }
            for link in &batch.links {
                views.links.insert(link.position, *link);
            }
            for (case_no, seq, position) in &batch.pending_added {
                pending.insert((case_no.as_str(), *seq), *position);
            }
            for (case_no, seq) in &batch.pending_removed {
                if let Some(position) = pending.remove(&(case_no.as_str(), *seq))
                    && let Some(step) = views.archive.get_mut(&position)
                {
                    step.disposition = Disposition::Applied;
                }
            }
            for change in &batch.alerts {
                views.alerts.insert(change.change.alert.id.clone());
            }
            views.checkpoints.insert(batch.partition, batch.checkpoint);
        }
        views
    }

    pub(super) fn steps_of(&self, case_no: &str) -> Vec<StepRow> {
        self.archive
            .values()
            .filter(|step| step.case_no.as_str() == case_no)
            .cloned()
            .collect()
    }

    pub(super) fn alert_ids(&self) -> &BTreeSet<AlertId> {
        &self.alerts
    }
}

/// One record of the sample log.
#[derive(Clone)]
pub(super) enum Record {
    Step(CaseEvent, Timestamp),
    Action(SupervisionEvent, Timestamp),
    Tick(Timestamp),
    /// Bytes that do not read, keyed by a case number or not.
    Unreadable(Vec<u8>, Option<&'static str>),
}

impl Record {
    pub(super) fn bytes(&self) -> Vec<u8> {
        match self {
            Record::Step(event, _) => serde_json::to_vec(event).expect("events encode"),
            Record::Action(event, _) => serde_json::to_vec(event).expect("actions encode"),
            Record::Tick(at) => at.to_rfc3339().into_bytes(),
            Record::Unreadable(bytes, _) => bytes.clone(),
        }
    }

    /// What the record says, as the domain folds it.
    pub(super) fn read(&self) -> Said {
        let read = |recorded_at: &Timestamp, content| Said::Read {
            recorded_at: *recorded_at,
            content,
        };
        match self {
            Record::Step(event, at) => read(at, Content::Step(event.clone())),
            Record::Action(event, at) => read(at, Content::Action(event.clone())),
            Record::Tick(at) => read(at, Content::Tick(ClockTick { at: *at })),
            Record::Unreadable(_, keyed) => Said::Unreadable {
                keyed: keyed.map(|case_no| CaseNo::parse(case_no).expect("a valid case number")),
                reason: "undecodable record".to_owned(),
            },
        }
    }
}

/// A small log over two partitions, folded through the domain the way the projector does.
pub(super) struct Log {
    pub(super) policy: Policy,
    pub(super) partitions: BTreeMap<Partition, Vec<Record>>,
}

impl Log {
    /// Four cases in two regions, two departments and two items: a case going overdue and
    /// acted on (one action refused), one with a gap filled late and a re-sent step, one
    /// completed, and one with a conflicting re-send under a notice that runs out; ticks,
    /// and one unreadable record.
    pub(super) fn sample() -> Self {
        let hz1 = Source::new("HZ-2026-0001", "330106", 1, "ITEM-0001");
        let nb1 = Source::new("NB-2026-0001", "330203", 2, "ITEM-0002");
        let hz2 = Source::new("HZ-2026-0002", "330106001", 1, "ITEM-0001");
        let hz3 = Source::new("HZ-2026-0003", "330106", 1, "ITEM-0002");
        let step = |source: &Source, seq, at: &str, step| {
            Record::Step(source.event(seq, "clerk-1", at, step), local(at))
        };
        let partition_0 = vec![
            step(&hz1, 1, "2026-03-02 09:00", submitted(Channel::Window)),
            step(&hz1, 2, "2026-03-02 09:30", accepted(3)),
            step(&nb1, 1, "2026-03-02 10:00", submitted(Channel::Web)),
            step(&nb1, 3, "2026-03-02 11:00", reviewed()),
            Record::Step(
                nb1.event(2, "clerk-1", "2026-03-02 10:30", accepted(5)),
                local("2026-03-02 11:05"),
            ),
            Record::Step(
                nb1.event(1, "clerk-1", "2026-03-02 10:00", submitted(Channel::Web)),
                local("2026-03-02 11:10"),
            ),
            Record::Tick(local("2026-03-04 09:00")),
            Record::Tick(local("2026-03-05 17:00")),
            Record::Unreadable(b"\xff\x00 not a record".to_vec(), None),
            Record::Unreadable(b"\xff\x01 not a record".to_vec(), Some("HZ-2026-0001")),
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-03-06 09:00",
                SupervisionAction::Acknowledge {
                    note: "收到".into(),
                },
            ),
            hz1.action(
                RuleId::T2,
                Role::Department,
                "2026-03-06 09:05",
                SupervisionAction::Close {
                    note: "已处理".into(),
                },
            ),
            Record::Tick(local("2026-04-01 09:00")),
            step(&nb1, 4, "2026-04-01 10:00", granted()),
            step(&nb1, 5, "2026-04-01 11:00", completed()),
        ];
        let partition_1 = vec![
            step(&hz2, 1, "2026-03-02 09:10", submitted(Channel::Mobile)),
            Record::Step(
                hz2.event(2, "clerk-2", "2026-03-02 09:20", accepted(5)),
                local("2026-03-02 09:20"),
            ),
            step(&hz2, 3, "2026-03-03 10:00", reviewed()),
            Record::Step(
                hz2.event(4, "chief-1", "2026-03-03 11:00", granted()),
                local("2026-03-03 11:00"),
            ),
            step(&hz2, 5, "2026-03-03 15:00", completed()),
            step(&hz3, 1, "2026-03-03 09:00", submitted(Channel::Window)),
            step(&hz3, 2, "2026-03-03 09:30", accepted(5)),
            Record::Step(
                hz3.event(2, "clerk-1", "2026-03-03 09:30", accepted(3)),
                local("2026-03-03 10:00"),
            ),
            Record::Tick(local("2026-03-10 17:00")),
            hz3.action(
                RuleId::C3,
                Role::Monitor,
                "2026-03-11 09:00",
                SupervisionAction::IssueNotice {
                    content: "请说明数据修改原因".into(),
                    feedback_due: local("2026-03-13 17:00"),
                },
            ),
            Record::Tick(local("2026-03-20 09:00")),
        ];
        Log {
            policy: Policy::default(),
            partitions: BTreeMap::from([(0, partition_0), (1, partition_1)]),
        }
    }

    /// The sample, and then a monitor escalates the yellow card `HZ-2026-0001/T2/1` to red
    /// and revokes it, on two later days.
    pub(super) fn sample_with_card_history() -> Self {
        let mut log = Log::sample();
        let hz1 = Source::new("HZ-2026-0001", "330106", 1, "ITEM-0001");
        log.partitions.entry(0).or_default().extend([
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-04-02 09:00",
                SupervisionAction::Escalate {
                    reason: "逾期未改".into(),
                },
            ),
            hz1.action(
                RuleId::T2,
                Role::Monitor,
                "2026-04-03 09:00",
                SupervisionAction::Revoke {
                    reason: "误报".into(),
                },
            ),
        ]);
        log
    }

    pub(super) fn partitions(&self) -> Vec<Partition> {
        self.partitions.keys().copied().collect()
    }

    /// Every partition's batches, one partition after the other.
    pub(super) fn sequential(&self, size: usize) -> Vec<ViewBatch> {
        self.partitions()
            .into_iter()
            .flat_map(|partition| self.batches(partition, size))
            .collect()
    }

    /// The partitions' batches taken in turn.
    pub(super) fn interleaved(&self, size: usize) -> Vec<ViewBatch> {
        let mut queues: Vec<std::vec::IntoIter<ViewBatch>> = self
            .partitions()
            .into_iter()
            .map(|partition| self.batches(partition, size).into_iter())
            .collect();
        let mut batches = Vec::new();
        loop {
            let before = batches.len();
            batches.extend(queues.iter_mut().filter_map(Iterator::next));
            if batches.len() == before {
                return batches;
            }
        }
    }

    /// One partition folded and cut into batches of `size` records.
    pub(super) fn batches(&self, partition: Partition, size: usize) -> Vec<ViewBatch> {
        let records = self.partitions.get(&partition).cloned().unwrap_or_default();
        let mut projector = Projector::new(&self.policy, partition);
        records
            .chunks(size.max(1))
            .map(|chunk| projector.batch(chunk))
            .collect()
    }
}

/// Folds one partition's records as the projector would.
pub(super) struct Projector<'a> {
    pub(super) policy: &'a Policy,
    pub(super) partition: Partition,
    pub(super) cases: BTreeMap<String, (Case, Hash)>,
    pub(super) pending: BTreeSet<(String, u32)>,
    pub(super) chain: Hash,
    pub(super) next_offset: u64,
    pub(super) now: Option<Timestamp>,
}

impl<'a> Projector<'a> {
    pub(super) fn new(policy: &'a Policy, partition: Partition) -> Self {
        Projector {
            policy,
            partition,
            cases: BTreeMap::new(),
            pending: BTreeSet::new(),
            chain: GENESIS,
            next_offset: 0,
            now: None,
        }
    }

    pub(super) fn batch(&mut self, records: &[Record]) -> ViewBatch {
        let mut batch = ViewBatch::new(
            self.partition,
            self.next_offset,
            Checkpoint {
                partition: self.partition,
                next_offset: 0,
                chain_hash: GENESIS,
                clock: None,
            },
        );
        let mut touched = BTreeSet::new();
        for record in records {
            let position = Position {
                partition: self.partition,
                offset: self.next_offset,
            };
            self.next_offset += 1;
            self.chain = chain(&self.chain, &record.bytes());
            self.fold(record, position, &mut batch, &mut touched);
        }
        let now = self.now.expect("a batch has a time");
        for case_no in touched {
            let (case, chain_head) = &self.cases[&case_no];
            let calendar = self.policy.calendars.for_region(&case.region_code);
            batch.cases.push(CaseRow {
                case: case.clone(),
                partition: self.partition,
                chain_head: *chain_head,
                light: case.light(),
                promised_due: case.promised_due(calendar),
                legal_due: case.legal_due(calendar),
                used_seconds: case.used_seconds(calendar, now),
                paused: case.clock.is_paused(calendar, now),
                as_of: now,
            });
        }
        batch.checkpoint.next_offset = self.next_offset;
        batch.checkpoint.chain_hash = self.chain;
        batch.checkpoint.clock = self.now;
        batch
    }

    pub(super) fn fold(
        &mut self,
        record: &Record,
        position: Position,
        batch: &mut ViewBatch,
        touched: &mut BTreeSet<String>,
    ) {
        let bytes = record.bytes();
        let said = record.read();
        self.now = said.clock_after(self.now);
        if let Said::Unreadable { keyed, reason } = &said {
            batch.quarantine.push(QuarantineRow {
                position,
                reason: reason.clone(),
                bytes: bytes.clone(),
                case_no: keyed.clone(),
            });
        }
        let now = self.now.expect("a time before the record");
        // A record no case's archive will hold is linked into the partition's chain.
        let link = ChainLink {
            position,
            hash: self.chain,
        };
        if said.tick().is_some() {
            batch.links.push(link);
            for (case_no, (case, _)) in &mut self.cases {
                if case.is_time_sensitive() {
                    let effects = case
                        .fold(&said, &bytes, now, self.policy)
                        .expect("time passing is never refused");
                    record_effects(batch, effects, position);
                    touched.insert(case_no.clone());
                }
            }
            return;
        }
        let Some(typed) = said.case_no().cloned() else {
            batch.links.push(link);
            return;
        };
        let case_no = typed.to_string();
        if !self.cases.contains_key(&case_no) {
            let Some(case) = said.opens() else {
                batch.links.push(link);
                return;
            };
            self.cases.insert(case_no.clone(), (case, GENESIS));
        }
        let (case, head) = self.cases.get_mut(&case_no).expect("held above");
        let previous_hash = *head;
        *head = chain(head, &bytes);
        let hash = *head;
        let outcome = case.fold(&said, &bytes, now, self.policy);
        touched.insert(case_no.clone());
        let (seq, kind, recorded_at, disposition) = match (&said, record) {
            (_, Record::Step(event, recorded_at)) => {
                let effects = outcome.as_ref().expect("a step is never refused");
                let disposition = self.pend(&typed, event.seq, effects, position, batch);
                (
                    Some(event.seq),
                    RecordKind::Step(event.step.kind()),
                    *recorded_at,
                    disposition,
                )
            }
            (_, Record::Action(_, recorded_at)) => (
                None,
                RecordKind::Supervision,
                *recorded_at,
                Disposition::Applied,
            ),
            _ => (None, RecordKind::Unreadable, now, Disposition::Unreadable),
        };
        batch.steps.push(StepRow {
            case_no: typed.clone(),
            position,
            seq,
            kind,
            recorded_at,
            disposition,
            hash,
            previous_hash,
        });
        match (outcome, record) {
            (Ok(effects), _) => record_effects(batch, effects, position),
            (Err(error), Record::Action(event, _)) => batch.refusals.push(RefusalRow {
                position,
                alert_id: event.alert_id.to_string(),
                principal: event.principal.id.clone(),
                reason: error.to_string(),
            }),
            (Err(error), _) => panic!("only actions are refused: {error}"),
        }
    }

    /// A step's disposition; the views' held steps gain it when it waits for a gap and
    /// lose those it released.
    pub(super) fn pend(
        &mut self,
        case_no: &CaseNo,
        seq: u32,
        effects: &casewatch_domain::case::Effects,
        position: Position,
        batch: &mut ViewBatch,
    ) -> Disposition {
        let disposition = effects
            .steps
            .iter()
            .find(|outcome| outcome.seq == seq)
            .expect("a step has an outcome")
            .disposition;
        if disposition == Disposition::Held {
            self.pending.insert((case_no.to_string(), seq));
            batch.pending_added.push((case_no.clone(), seq, position));
        }
        for outcome in &effects.steps {
            if outcome.seq == seq || outcome.disposition != Disposition::Applied {
                continue;
            }
            if self.pending.remove(&(case_no.to_string(), outcome.seq)) {
                batch.pending_removed.push((case_no.clone(), outcome.seq));
            }
        }
        disposition
    }
}

pub(super) fn record_effects(
    batch: &mut ViewBatch,
    effects: casewatch_domain::case::Effects,
    position: Position,
) {
    batch.alerts.extend(
        effects
            .alerts
            .into_iter()
            .map(|change| AlertChangeRow { change, position }),
    );
    batch.stats.extend(
        effects
            .stats
            .into_iter()
            .map(|delta| (delta.key, delta.counters)),
    );
}

/// A batch of statistics only, moving partition `partition` from `from` to `to`.
pub(super) fn stats_batch(
    partition: Partition,
    from: u64,
    to: u64,
    stats: Vec<(StatKey, Counters)>,
) -> ViewBatch {
    ViewBatch {
        stats,
        ..ViewBatch::new(
            partition,
            from,
            Checkpoint {
                partition,
                next_offset: to,
                chain_hash: [u8::try_from(to % 256).unwrap_or(0); 32],
                clock: Some(
                    local("2026-03-02 09:00")
                        + chrono::TimeDelta::seconds(i64::try_from(to).unwrap_or(0)),
                ),
            },
        )
    }
}
