//! The simulated city: its counties (real codes of Hangzhou's districts), the departments
//! every county has, and the catalogue of items (事项) their cases are for.

use casewatch_domain::event::CaseType;
use casewatch_domain::ids::{DeptCode, RegionCode};

/// A county of the simulated city (real codes of Hangzhou's districts).
pub const COUNTIES: &[(&str, &str)] = &[
    ("330102", "上城区"),
    ("330105", "拱墅区"),
    ("330106", "西湖区"),
    ("330108", "滨江区"),
    ("330109", "萧山区"),
    ("330110", "余杭区"),
];

/// The departments every county has.
pub(crate) const DEPARTMENTS: &[&str] = &["市场监管局", "卫生健康局", "住房建设局", "交通运输局"];

/// An item (事项) of the simulated catalogue.
pub(crate) struct ItemTemplate {
    pub(crate) code: &'static str,
    pub(crate) name: &'static str,
    pub(crate) department: usize,
    pub(crate) case_type: CaseType,
    pub(crate) promised_days: u32,
    pub(crate) legal_days: u32,
    pub(crate) fee_fen: Option<u64>,
}

pub(crate) const ITEMS: &[ItemTemplate] = &[
    ItemTemplate {
        code: "330000-SCJG-0001",
        name: "食品经营许可",
        department: 0,
        case_type: CaseType::Promised,
        promised_days: 10,
        legal_days: 20,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-SCJG-0002",
        name: "营业执照变更登记",
        department: 0,
        case_type: CaseType::Immediate,
        promised_days: 1,
        legal_days: 15,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-WSJK-0001",
        name: "医疗机构执业登记",
        department: 1,
        case_type: CaseType::Promised,
        promised_days: 15,
        legal_days: 20,
        fee_fen: None,
    },
    ItemTemplate {
        code: "330000-ZJJ-0001",
        name: "建筑工程施工许可",
        department: 2,
        case_type: CaseType::Joint,
        promised_days: 7,
        legal_days: 45,
        fee_fen: Some(20_000),
    },
    ItemTemplate {
        code: "330000-JTYS-0001",
        name: "道路运输经营许可",
        department: 3,
        case_type: CaseType::Promised,
        promised_days: 5,
        legal_days: 20,
        fee_fen: Some(5_000),
    },
];

/// The name of a simulated county, for display.
pub fn county_name(region: &RegionCode) -> &'static str {
    COUNTIES
        .iter()
        .find(|(code, _)| RegionCode::parse(*code).is_ok_and(|county| county.contains(region)))
        .map_or("", |(_, name)| name)
}

/// The department code of department `index` in `county`.
pub fn dept_code(county: usize, index: usize) -> DeptCode {
    DeptCode::with_check_char(&format!(
        "11{}MB{:07}",
        &COUNTIES[county].0[..6],
        index * 7 + 1
    ))
    .expect("a 17-character body of valid characters")
}
