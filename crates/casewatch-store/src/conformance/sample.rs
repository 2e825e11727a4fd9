//! The suite's sample: what it applies, its filters and scopes, and the steps it is made of.

use super::*;

/// The batches of the suite's sample log on one of its `partitions`, `size` records each,
/// as a projector would cut them: cases, archive rows, alert changes, statistics and a
/// quarantined record, for a backend's own tests beyond this suite.
pub fn sample_batches(partition: Partition, size: usize) -> Vec<ViewBatch> {
    Log::sample().batches(partition, size)
}

/// The partitions of the sample log (each with alert changes).
pub fn sample_partitions() -> Vec<Partition> {
    Log::sample().partitions()
}

/// Applies batches in order, returning their committed alert changes.
pub(super) async fn apply_each<S: ViewStore>(
    store: &S,
    batches: Vec<ViewBatch>,
) -> Vec<CommittedAlert> {
    let mut committed = Vec::new();
    for batch in batches {
        let partition = batch.partition;
        let from = batch.from_offset;
        committed.extend(
            store
                .apply(batch)
                .await
                .unwrap_or_else(|error| panic!("batch {partition}@{from} applies: {error}")),
        );
    }
    committed
}

pub(super) async fn digest<S: ViewStore>(store: &S) -> Hash {
    store.digest().await.expect("digest computes")
}

/// Filters over the sample, and whether the sample must give each some but not all
/// changes.
pub(super) fn sample_filters() -> Vec<(&'static str, AlertFilter, bool)> {
    let of = |change: fn(&mut AlertFilter)| {
        let mut filter = AlertFilter::default();
        change(&mut filter);
        filter
    };
    vec![
        ("all", AlertFilter::default(), false),
        (
            "region 3302",
            of(|f| f.region_prefixes = Some(vec!["3302".into()])),
            true,
        ),
        (
            "region 330106",
            of(|f| f.region_prefixes = Some(vec!["330106".into()])),
            true,
        ),
        (
            "regions 3302 and 330106001",
            of(|f| f.region_prefixes = Some(vec!["3302".into(), "330106001".into()])),
            true,
        ),
        (
            "no region",
            of(|f| f.region_prefixes = Some(Vec::new())),
            false,
        ),
        (
            "region with %",
            of(|f| f.region_prefixes = Some(vec!["33%".into()])),
            false,
        ),
        (
            "region with _",
            of(|f| f.region_prefixes = Some(vec!["3_0".into()])),
            false,
        ),
        (
            "department",
            of(|f| f.dept_code = Some(dept(2).as_str().into())),
            true,
        ),
        ("item", of(|f| f.item_code = Some("ITEM-0002".into())), true),
        (
            "case",
            of(|f| f.case_no = Some("HZ-2026-0003".into())),
            true,
        ),
        (
            "rules",
            of(|f| f.rules = vec![RuleId::T2, RuleId::C3]),
            true,
        ),
        (
            "categories",
            of(|f| f.categories = vec![Category::Content]),
            true,
        ),
        (
            "states",
            of(|f| f.states = vec![AlertState::Acknowledged, AlertState::UnderNotice]),
            true,
        ),
        (
            "red and above",
            of(|f| f.min_level = Some(Level::Red)),
            true,
        ),
        ("serious", of(|f| f.min_level = Some(Level::Serious)), true),
        (
            "raised from 03-06",
            of(|f| f.raised_from = Some(local("2026-03-06 00:00"))),
            true,
        ),
        (
            "raised before 03-06",
            of(|f| f.raised_to = Some(local("2026-03-06 00:00"))),
            true,
        ),
        (
            "time cards in 3301",
            of(|f| {
                f.region_prefixes = Some(vec!["3301".into()]);
                f.categories = vec![Category::Time];
                f.min_level = Some(Level::Yellow);
            }),
            true,
        ),
    ]
}

/// The reference meaning of a case filter.
pub(super) fn case_matches(filter: &CaseFilter, row: &CaseRow) -> bool {
    let case = &row.case;
    filter.region_prefixes.as_ref().is_none_or(|prefixes| {
        prefixes
            .iter()
            .any(|prefix| case.region_code.as_str().starts_with(prefix.as_str()))
    }) && filter
        .dept_code
        .as_ref()
        .is_none_or(|dept| case.dept_code.as_str() == dept)
        && filter
            .item_code
            .as_ref()
            .is_none_or(|item| case.item_code.as_str() == item)
        && filter.status.is_none_or(|status| case.status == status)
        && filter.light.is_none_or(|light| row.light == light)
        && filter.overdue.is_none_or(|overdue| {
            case.status == CaseStatus::Accepted && past_limit(case, overdue).is_some()
        })
}

/// When a case was first found past the limit an overdue filter names.
pub(super) fn past_limit(case: &Case, overdue: OverdueFilter) -> Option<Timestamp> {
    match overdue {
        OverdueFilter::PastPromised => case.overdue_promised_at,
        OverdueFilter::PastLegal => case.overdue_legal_at,
    }
}

/// Every case `list_cases` gives for `filter`, read one a page.
pub(super) async fn cases_in_pages<S: ViewStore>(store: &S, filter: &CaseFilter) -> Vec<CaseRow> {
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_cases(filter, after.as_deref(), 1)
            .await
            .expect("page reads");
        let Some(last) = page.last() else {
            return paged;
        };
        after = Some(last.case.case_no.as_str().to_owned());
        paged.extend(page);
    }
}

/// A region and department scope, as the reads of cases and alerts as of an instant take
/// it.
pub(super) struct Scope {
    pub(super) name: &'static str,
    pub(super) region_prefixes: Option<Vec<String>>,
    pub(super) dept_code: Option<String>,
}

impl Scope {
    pub(super) fn prefixes(&self) -> Option<&[String]> {
        self.region_prefixes.as_deref()
    }

    pub(super) fn dept(&self) -> Option<&str> {
        self.dept_code.as_deref()
    }

    /// The reference meaning of the scope for cases.
    pub(super) fn cases(&self) -> CaseFilter {
        CaseFilter {
            region_prefixes: self.region_prefixes.clone(),
            dept_code: self.dept_code.clone(),
            ..CaseFilter::default()
        }
    }

    /// The reference meaning of the scope for alerts.
    pub(super) fn alerts(&self) -> AlertFilter {
        AlertFilter {
            region_prefixes: self.region_prefixes.clone(),
            dept_code: self.dept_code.clone(),
            ..AlertFilter::default()
        }
    }
}

/// Scopes over the sample: every one but the first leaves some of it out.
pub(super) fn sample_scopes() -> Vec<Scope> {
    let scope = |name, prefixes: Option<&[&str]>, dept_no: Option<u32>| Scope {
        name,
        region_prefixes: prefixes
            .map(|prefixes| prefixes.iter().map(|prefix| (*prefix).to_owned()).collect()),
        dept_code: dept_no.map(|n| dept(n).as_str().to_owned()),
    };
    vec![
        scope("everywhere", None, None),
        scope("region 3302", Some(&["3302"]), None),
        scope("region 330106", Some(&["330106"]), None),
        scope(
            "regions 3302 and 330106001",
            Some(&["3302", "330106001"]),
            None,
        ),
        scope("no region", Some(&[]), None),
        scope("region with %", Some(&["33%"]), None),
        scope("department 2", None, Some(2)),
        scope("department 1 in 330106", Some(&["330106"]), Some(1)),
    ]
}

/// The reporting office of one sample case.
pub(super) struct Source {
    pub(super) case_no: CaseNo,
    pub(super) region_code: RegionCode,
    pub(super) dept_code: DeptCode,
    pub(super) item_code: ItemCode,
}

impl Source {
    pub(super) fn new(case_no: &str, region: &str, dept_no: u32, item: &str) -> Self {
        Source {
            case_no: CaseNo::parse(case_no).expect("valid case number"),
            region_code: RegionCode::parse(region).expect("valid region"),
            dept_code: dept(dept_no),
            item_code: ItemCode::parse(item).expect("valid item"),
        }
    }

    pub(super) fn event(&self, seq: u32, actor: &str, at: &str, step: Step) -> CaseEvent {
        CaseEvent {
            event_id: EventId::parse(format!("{}-{seq}-{at}", self.case_no).replace(' ', "T"))
                .expect("valid event id"),
            case_no: self.case_no.clone(),
            seq,
            item_code: self.item_code.clone(),
            region_code: self.region_code.clone(),
            dept_code: self.dept_code.clone(),
            occurred_at: local(at),
            source_system: "county-system".into(),
            source_version: 1,
            actor: Actor {
                id: actor.into(),
                name: actor.into(),
            },
            step,
        }
    }

    /// A person's action on the case's first alert of `rule`.
    pub(super) fn action(
        &self,
        rule: RuleId,
        role: Role,
        at: &str,
        action: SupervisionAction,
    ) -> Record {
        let alert_id = AlertId {
            case_no: self.case_no.clone(),
            rule,
            occurrence: 1,
        };
        let event = SupervisionEvent {
            event_id: EventId::parse(format!("act-{alert_id}-{at}").replace(' ', "T"))
                .expect("valid event id"),
            alert_id,
            principal: Principal {
                id: format!("{role}-1").replace(' ', "-"),
                name: String::new(),
                role,
            },
            action,
        };
        Record::Action(event, local(at))
    }
}

/// A local time in China Standard Time, written `2026-03-02 09:00`.
pub(super) fn local(text: &str) -> Timestamp {
    chrono::DateTime::parse_from_str(&format!("{text} +08:00"), "%Y-%m-%d %H:%M %z")
        .unwrap_or_else(|error| panic!("bad time `{text}`: {error}"))
        .to_utc()
}

pub(super) fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("valid date")
}

pub(super) fn dept(n: u32) -> DeptCode {
    DeptCode::with_check_char(&format!("11330106MB{n:07}")).expect("valid department body")
}

pub(super) fn working_days(n: u32) -> Limit {
    Limit::working_days(n).expect("valid limit")
}

pub(super) fn submitted(channel: Channel) -> Step {
    Step::Submitted {
        applicant: Applicant {
            kind: ApplicantKind::Person,
            name: "张三".into(),
            id_type: "resident_id".into(),
            id_no: "330106199001011234".into(),
        },
        channel,
        materials: Vec::new(),
    }
}

pub(super) fn accepted(promised: u32) -> Step {
    Step::Accepted {
        case_type: CaseType::Promised,
        legal_limit: working_days(20),
        promised_limit: working_days(promised),
        fee_required: false,
        fee_standard_fen: None,
        accept_doc_no: "受理-0001".into(),
    }
}

pub(super) fn reviewed() -> Step {
    Step::Reviewed {
        step_code: "R1".into(),
        step_name: "审核".into(),
        outcome: ReviewOutcome::Pass,
        opinion: "同意".into(),
        step_limit: None,
    }
}

pub(super) fn granted() -> Step {
    Step::Decided {
        decision: Decision::Grant,
        reason: "符合条件".into(),
        window_direct_signoff: false,
    }
}

pub(super) fn completed() -> Step {
    Step::Completed {
        result: CompletionResult::Completed,
        certificate: None,
        fee_total_fen: 0,
    }
}
