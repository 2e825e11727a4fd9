//! Who may do what, and where: the authorization rules of Casewatch. A [`Grant`] is what an
//! authenticated caller holds — a role, a region scope and, for departments, a department;
//! each operation asks it first whether the role may do it at all, then whether the case,
//! alert or region it touches lies inside the grant.
//!
//! The adapters authenticate callers and ask these questions; they decide nothing
//! themselves.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{DeptCode, RegionCode};
use crate::policy::PolicyContent;

/// The role of a principal (a configured caller of Casewatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A county or department system that reports case steps.
    CountySystem,
    /// A department answering for its own alerts (回告, 申诉).
    Department,
    /// Monitoring staff (监察人员) supervising a region.
    Monitor,
    /// An auditor: reads and replays, never writes.
    Auditor,
    /// An administrator.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::CountySystem => "county system",
            Role::Department => "department",
            Role::Monitor => "monitor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        })
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The configured principal's name (unique).
    pub id: String,
    /// The person's display name, if known.
    pub name: String,
    /// What the principal is: it decides which operations and actions it may take.
    pub role: Role,
}

/// What a caller asks to do, one variant per kind of RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Report case steps (`IngestService`).
    AppendSteps,
    /// Read cases (`GetCase`, `ListCases`).
    ReadCases,
    /// Read alerts, listed or live (`ListAlerts`, `SubscribeAlerts`).
    ReadAlerts,
    /// Act on an alert (`ActOnAlert`); the alert's lifecycle then decides which actions
    /// the role may take.
    ActOnAlerts,
    /// Read the statistics (`GetStatistics`).
    ReadStatistics,
    /// Read the rankings of departments and counties (`GetRanking`).
    ReadRankings,
    /// Replay, read the log, see cases as of a date, verify the chains, re-run the rules
    /// (`AuditService`), read the policy's history (`ListPolicyHistory`).
    Audit,
    /// Read the policy in force (`GetPolicy`).
    ReadPolicy,
    /// Change the policy (`ApplyPolicy`), within the reach of [`Grant::may_change`].
    ChangePolicy,
}

impl Operation {
    /// Every operation, for exhaustive tables.
    pub const ALL: &'static [Operation] = &[
        Operation::AppendSteps,
        Operation::ReadCases,
        Operation::ReadAlerts,
        Operation::ActOnAlerts,
        Operation::ReadStatistics,
        Operation::ReadRankings,
        Operation::Audit,
        Operation::ReadPolicy,
        Operation::ChangePolicy,
    ];

    /// Whether `role` may perform the operation anywhere at all.
    ///
    /// County systems report and may read back the cases they reported, nothing else.
    /// Departments see and answer their own alerts and read their own figures. Monitors
    /// supervise their region. Auditors read and replay everything in their region but
    /// never write. Administrators manage everything.
    pub fn permitted_to(self, role: Role) -> bool {
        use Role as R;
        match self {
            Operation::AppendSteps => matches!(role, R::CountySystem | R::Admin),
            Operation::ReadCases => true,
            Operation::ReadAlerts | Operation::ReadStatistics => {
                matches!(role, R::Department | R::Monitor | R::Auditor | R::Admin)
            }
            Operation::ActOnAlerts => matches!(role, R::Department | R::Monitor | R::Admin),
            Operation::ReadRankings => matches!(role, R::Monitor | R::Auditor | R::Admin),
            Operation::Audit => matches!(role, R::Auditor | R::Admin),
            Operation::ReadPolicy => matches!(role, R::Monitor | R::Auditor | R::Admin),
            Operation::ChangePolicy => role == R::Admin,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::AppendSteps => "report case steps",
            Operation::ReadCases => "read cases",
            Operation::ReadAlerts => "read alerts",
            Operation::ActOnAlerts => "act on alerts",
            Operation::ReadStatistics => "read statistics",
            Operation::ReadRankings => "read rankings",
            Operation::Audit => "audit",
            Operation::ReadPolicy => "read the policy",
            Operation::ChangePolicy => "change the policy",
        })
    }
}

/// The regions a grant covers: one or more region codes, each covering every code that
/// starts with its significant digits. The national code `000000` covers every region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionScope {
    /// Significant digits, none of them covered by another.
    prefixes: Vec<String>,
}

impl RegionScope {
    /// The scope of `regions`; a region inside another listed one adds nothing. `None`
    /// when `regions` is empty: a grant must cover somewhere.
    pub fn new(regions: &[RegionCode]) -> Option<Self> {
        let mut prefixes: Vec<String> = regions
            .iter()
            .map(|region| region.significant().to_owned())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        let covered = |prefix: &String, others: &[String]| {
            others
                .iter()
                .any(|other| other != prefix && prefix.starts_with(other.as_str()))
        };
        let kept: Vec<String> = prefixes
            .iter()
            .filter(|prefix| !covered(prefix, &prefixes))
            .cloned()
            .collect();
        (!kept.is_empty()).then_some(Self { prefixes: kept })
    }

    /// Every region.
    pub fn everywhere() -> Self {
        Self {
            prefixes: vec![String::new()],
        }
    }

    /// Whether the scope covers every region.
    pub fn is_everywhere(&self) -> bool {
        self.prefixes.iter().any(String::is_empty)
    }

    /// The significant digits of the scope's regions.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Whether a region code lies inside the scope.
    pub fn covers(&self, region: &RegionCode) -> bool {
        self.covers_digits(region.as_str())
    }

    fn covers_digits(&self, digits: &str) -> bool {
        self.prefixes
            .iter()
            .any(|prefix| digits.starts_with(prefix.as_str()))
    }

    /// The part of the scope inside a requested region prefix (digits; `None` asks for the
    /// whole scope), as prefixes to read with: the request itself when the scope covers it,
    /// the scope's regions inside it when it is wider, and nothing when they do not meet.
    pub fn within(&self, requested: Option<&str>) -> Vec<String> {
        match requested {
            None => self.prefixes.clone(),
            Some(requested) if self.covers_digits(requested) => vec![requested.to_owned()],
            Some(requested) => self
                .prefixes
                .iter()
                .filter(|prefix| prefix.starts_with(requested))
                .cloned()
                .collect(),
        }
    }
}

impl fmt::Display for RegionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everywhere() {
            return f.write_str("every region");
        }
        for (index, prefix) in self.prefixes.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{prefix}`")?;
        }
        Ok(())
    }
}

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The role may not perform the operation anywhere.
    #[error("a {role} may not {operation}")]
    Role {
        /// The caller's role.
        role: Role,
        /// What it asked to do.
        operation: Operation,
    },
    /// The region touched lies outside the caller's region scope.
    #[error("region `{region}` lies outside the scope of `{principal}` ({scope})")]
    OutsideScope {
        /// The caller's principal id.
        principal: String,
        /// The region code (or requested prefix) asked for.
        region: String,
        /// The caller's scope, as [`RegionScope`] displays it.
        scope: String,
    },
    /// The caller speaks for one department and the case belongs to another.
    #[error("department `{dept}` is not the department of `{principal}`")]
    OtherDepartment {
        /// The caller's principal id.
        principal: String,
        /// The department of the case, alert or row asked for.
        dept: String,
    },
    /// A change of policy beyond the caller's regions: the rule book and the national
    /// calendar are every region's, a region's calendar its own and its parents'.
    #[error("`{principal}` covers {scope}: {what} needs a principal of {needs}")]
    PolicyBeyondScope {
        /// The caller's principal id.
        principal: String,
        /// The caller's scope.
        scope: String,
        /// The part changed.
        what: String,
        /// The scope it needs.
        needs: String,
    },
    #[error(
        "records that cannot be placed in a region (quarantined ones) are for principals of \
         every region (`000000`) and no single department; `{principal}` covers {reach}"
    )]
    /// Records of no region (quarantined ones) asked for by a caller limited to some.
    Unplaced {
        /// The caller's principal id.
        principal: String,
        /// What the caller's grant does cover: its scope, and its department if any.
        reach: String,
    },
}

/// What an authenticated caller may do: its principal (as recorded on its actions), its
/// region scope and, when set, the one department it speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who the caller is, as its actions record it.
    pub principal: Principal,
    /// The regions the caller may see and act in.
    pub scope: RegionScope,
    /// Departments must name theirs; a county system may be limited to one.
    pub dept: Option<DeptCode>,
}

impl Grant {
    /// Whether the role may perform `operation` at all.
    pub fn may(&self, operation: Operation) -> Result<(), Denied> {
        if operation.permitted_to(self.principal.role) {
            Ok(())
        } else {
            Err(Denied::Role {
                role: self.principal.role,
                operation,
            })
        }
    }

    /// Whether the grant reaches a case (or alert, or statistics row) of `region` and
    /// `dept`.
    pub fn reaches(&self, region: &RegionCode, dept: &DeptCode) -> Result<(), Denied> {
        if !self.scope.covers(region) {
            return Err(Denied::OutsideScope {
                principal: self.principal.id.clone(),
                region: region.to_string(),
                scope: self.scope.to_string(),
            });
        }
        match &self.dept {
            Some(own) if own != dept => Err(Denied::OtherDepartment {
                principal: self.principal.id.clone(),
                dept: dept.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether the grant reaches records that cannot be placed in a region or department,
    /// such as quarantined ones (what they say cannot be trusted): only a grant of every
    /// region that speaks for no single department does.
    pub fn reaches_unplaced(&self) -> Result<(), Denied> {
        if self.scope.is_everywhere() && self.dept.is_none() {
            return Ok(());
        }
        let reach = match &self.dept {
            Some(dept) => format!("{}, department `{dept}`", self.scope),
            None => self.scope.to_string(),
        };
        Err(Denied::Unplaced {
            principal: self.principal.id.clone(),
            reach,
        })
    }

    /// Whether the grant may make a change of policy of `content`: the rule book and the
    /// national calendar apply everywhere, so only a grant of every region may change
    /// them; a region's calendar, a grant whose regions contain that region (a city's
    /// administrator changes its city's and its counties', not the province's). A grant
    /// limited to one department changes none.
    pub fn may_change(&self, content: &PolicyContent) -> Result<(), Denied> {
        self.may(Operation::ChangePolicy)?;
        let (allowed, what, needs) = match content {
            PolicyContent::RuleBook(_) => (
                self.scope.is_everywhere(),
                "the rule book".to_owned(),
                "every region (`000000`)".to_owned(),
            ),
            PolicyContent::NationalCalendar { .. } => (
                self.scope.is_everywhere(),
                "the national calendar".to_owned(),
                "every region (`000000`)".to_owned(),
            ),
            PolicyContent::RegionCalendar { changes, .. } => (
                self.scope.covers(&changes.region),
                format!("the calendar of region `{}`", changes.region),
                format!("a scope containing `{}`", changes.region),
            ),
        };
        if allowed && self.dept.is_none() {
            return Ok(());
        }
        Err(Denied::PolicyBeyondScope {
            principal: self.principal.id.clone(),
            scope: self.scope.to_string(),
            what,
            needs,
        })
    }

    /// Whether the grant may perform `operation` on a case of `region` and `dept`.
    pub fn may_on(
        &self,
        operation: Operation,
        region: &RegionCode,
        dept: &DeptCode,
    ) -> Result<(), Denied> {
        self.may(operation)?;
        self.reaches(region, dept)
    }

    /// The department a listing must be limited to, if the grant speaks for one.
    pub fn dept_filter(&self) -> Option<&DeptCode> {
        self.dept.as_ref()
    }

    /// The region prefixes a listing may read, within a requested prefix; an empty list
    /// when the request lies wholly outside the scope.
    pub fn region_prefixes(&self, requested: Option<&str>) -> Result<Vec<String>, Denied> {
        let prefixes = self.scope.within(requested);
        if prefixes.is_empty() {
            return Err(Denied::OutsideScope {
                principal: self.principal.id.clone(),
                region: requested.unwrap_or_default().to_owned(),
                scope: self.scope.to_string(),
            });
        }
        Ok(prefixes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> RegionCode {
        RegionCode::parse(code).expect("a region code")
    }

    fn dept(n: u8) -> DeptCode {
        DeptCode::with_check_char(&format!("11330100MB{n:07}")).expect("a credit code")
    }

    fn grant(role: Role, regions: &[&str], dept: Option<DeptCode>) -> Grant {
        let regions: Vec<RegionCode> = regions.iter().map(|code| region(code)).collect();
        Grant {
            principal: Principal {
                id: "p".to_owned(),
                name: String::new(),
                role,
            },
            scope: RegionScope::new(&regions).expect("a scope"),
            dept,
        }
    }

    #[test]
    fn a_scope_covers_the_subtrees_of_its_regions() {
        let scope = RegionScope::new(&[region("330100"), region("330106"), region("330206")])
            .expect("a scope");
        assert_eq!(scope.prefixes(), ["3301", "330206"]);
        assert!(scope.covers(&region("330106001001")));
        assert!(scope.covers(&region("330206")));
        assert!(!scope.covers(&region("330205")));
        assert!(!scope.covers(&region("340100")));
        assert!(RegionScope::new(&[]).is_none());
        let national = RegionScope::new(&[region("000000")]).expect("a scope");
        assert!(national.is_everywhere() && national.covers(&region("650102")));
        assert_eq!(national, RegionScope::everywhere());
    }

    #[test]
    fn a_requested_prefix_is_narrowed_to_the_scope() {
        let scope = RegionScope::new(&[region("330100"), region("330206")]).expect("a scope");
        assert_eq!(scope.within(None), ["3301", "330206"]);
        assert_eq!(scope.within(Some("330106")), ["330106"]);
        assert_eq!(scope.within(Some("33")), ["3301", "330206"]);
        assert_eq!(scope.within(Some("3302")), ["330206"]);
        assert!(scope.within(Some("34")).is_empty());
        assert!(scope.within(Some("330207")).is_empty());
    }

    #[test]
    fn roles_reach_only_what_their_scope_and_department_allow() {
        let county = grant(Role::CountySystem, &["330106"], None);
        assert!(county.may(Operation::AppendSteps).is_ok());
        assert!(matches!(
            county.may(Operation::ActOnAlerts),
            Err(Denied::Role { .. })
        ));
        assert!(
            county
                .may_on(Operation::AppendSteps, &region("330106"), &dept(1))
                .is_ok()
        );
        assert!(matches!(
            county.may_on(Operation::AppendSteps, &region("330105"), &dept(1)),
            Err(Denied::OutsideScope { .. })
        ));

        let department = grant(Role::Department, &["330100"], Some(dept(1)));
        assert!(department.reaches(&region("330106"), &dept(1)).is_ok());
        assert!(matches!(
            department.reaches(&region("330106"), &dept(2)),
            Err(Denied::OtherDepartment { .. })
        ));
        assert!(department.may(Operation::ReadRankings).is_err());

        let auditor = grant(Role::Auditor, &["330000"], None);
        assert!(auditor.may(Operation::Audit).is_ok());
        assert!(auditor.may(Operation::AppendSteps).is_err());
        assert!(auditor.may(Operation::ActOnAlerts).is_err());
        assert_eq!(
            auditor
                .region_prefixes(Some("3401"))
                .expect_err("outside")
                .to_string(),
            "region `3401` lies outside the scope of `p` (`33`)"
        );
    }

    #[test]
    fn only_a_grant_of_every_region_and_department_reaches_unplaced_records() {
        assert!(
            grant(Role::Auditor, &["000000"], None)
                .reaches_unplaced()
                .is_ok()
        );
        assert_eq!(
            grant(Role::Auditor, &["330100", "340100"], None)
                .reaches_unplaced()
                .expect_err("a city auditor")
                .to_string(),
            "records that cannot be placed in a region (quarantined ones) are for principals \
             of every region (`000000`) and no single department; `p` covers `3301`, `3401`"
        );
        assert!(matches!(
            grant(Role::Admin, &["000000"], Some(dept(1))).reaches_unplaced(),
            Err(Denied::Unplaced { reach, .. }) if reach.starts_with("every region, department")
        ));
    }

    #[test]
    fn every_role_may_do_something_and_only_admins_everything() {
        for role in [
            Role::CountySystem,
            Role::Department,
            Role::Monitor,
            Role::Auditor,
            Role::Admin,
        ] {
            let permitted = Operation::ALL
                .iter()
                .filter(|operation| operation.permitted_to(role))
                .count();
            assert!(permitted > 0, "{role}");
            assert_eq!(
                permitted == Operation::ALL.len(),
                role == Role::Admin,
                "{role}"
            );
        }
    }

    #[test]
    fn a_change_of_policy_is_made_by_an_administrator_of_the_regions_it_applies_to() {
        use crate::calendar::{CalendarData, RegionCalendar};
        use crate::policy::PolicyContent;
        use crate::rulebook::RuleBook;

        let city_calendar = |code: &str| PolicyContent::RegionCalendar {
            version: 2,
            changes: RegionCalendar {
                region: region(code),
                office_hours: None,
                holidays: Vec::new(),
                workdays: Vec::new(),
                years: Vec::new(),
            },
        };
        let book = PolicyContent::RuleBook(RuleBook::default());
        let national = PolicyContent::NationalCalendar {
            version: 2,
            data: CalendarData::default(),
        };
        let province = grant(Role::Admin, &["000000"], None);
        let city = grant(Role::Admin, &["330100"], None);
        for content in [&book, &national, &city_calendar("330106")] {
            assert_eq!(province.may_change(content), Ok(()));
        }
        assert_eq!(city.may_change(&city_calendar("330100")), Ok(()));
        assert_eq!(
            city.may_change(&city_calendar("330106")),
            Ok(()),
            "its county"
        );
        assert_eq!(
            city.may_change(&city_calendar("330000"))
                .map_err(|denied| denied.to_string()),
            Err(
                "`p` covers `3301`: the calendar of region `330000` needs a principal of \
                 a scope containing `330000`"
                    .to_owned()
            )
        );
        assert!(city.may_change(&book).is_err());
        assert!(city.may_change(&national).is_err());
        assert!(
            grant(Role::Admin, &["000000"], Some(dept(1)))
                .may_change(&city_calendar("330106"))
                .is_err(),
            "a department's administrator"
        );
        assert_eq!(
            grant(Role::Monitor, &["000000"], None).may_change(&book),
            Err(Denied::Role {
                role: Role::Monitor,
                operation: Operation::ChangePolicy
            })
        );
    }
}
