//! Identifiers that cannot hold invalid values: each has a `parse` constructor and nothing
//! else builds one, so code that holds a [`CaseNo`] or a [`RegionCode`] never re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::catalogue::{RuleId, UnknownRule};

/// Why a text is not a valid identifier. The message names the problem, not the field:
/// the caller knows which field it parsed and prefixes its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is empty.
    #[error("must not be empty")]
    Empty,
    /// The text is longer than the identifier allows.
    #[error("must be at most {max} characters, got {len}")]
    TooLong {
        /// The most characters allowed.
        max: usize,
        /// The characters given.
        len: usize,
    },
    /// The text is not of a length the identifier has (a region code has 6, 9 or 12
    /// digits, a department code 18 characters).
    #[error("must be {expected}, got {len} characters")]
    BadLength {
        /// The lengths allowed, in words.
        expected: &'static str,
        /// The characters given.
        len: usize,
    },
    /// A character the identifier may not hold.
    #[error("invalid character `{ch}` at position {position}")]
    BadChar {
        /// The character.
        ch: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// The check character of a unified social credit code does not match the others.
    #[error("check character is `{found}`, expected `{expected}`")]
    BadCheckChar {
        /// The check character given.
        found: char,
        /// The one the other characters call for.
        expected: char,
    },
}

/// Checks a free-form identifier: 1..=max characters, none of them whitespace or control.
fn check_token(text: &str, max: usize) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    let len = text.chars().count();
    if len > max {
        return Err(IdError::TooLong { max, len });
    }
    match text
        .chars()
        .enumerate()
        .find(|(_, ch)| ch.is_whitespace() || ch.is_control())
    {
        Some((position, ch)) => Err(IdError::BadChar { ch, position }),
        None => Ok(()),
    }
}

/// Checks an ASCII code: 1..=max characters from `allowed`.
fn check_code(text: &str, max: usize, allowed: impl Fn(char) -> bool) -> Result<(), IdError> {
    check_token(text, max)?;
    match text.chars().enumerate().find(|(_, ch)| !allowed(*ch)) {
        Some((position, ch)) => Err(IdError::BadChar { ch, position }),
        None => Ok(()),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates the text.
            pub fn parse(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(&text)?;
                Ok(Self(text))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Longest case number (办件编号) accepted, in characters.
pub const CASE_NO_MAX: usize = 50;
/// Longest item code (事项编码) accepted, in characters.
pub const ITEM_CODE_MAX: usize = 64;
/// Longest event id (the sender's idempotency key) accepted, in characters.
pub const EVENT_ID_MAX: usize = 64;

string_id!(
    /// A case number (办件编号): up to 50 characters, no whitespace or control characters.
    CaseNo,
    |text| check_token(text, CASE_NO_MAX)
);

string_id!(
    /// An item code (事项编码): up to 64 ASCII letters, digits, `-`, `_` or `.`.
    ItemCode,
    |text| check_code(text, ITEM_CODE_MAX, |ch| ch.is_ascii_alphanumeric()
        || matches!(ch, '-' | '_' | '.'))
);

string_id!(
    /// The sender's idempotency key for one step: up to 64 printable ASCII characters.
    EventId,
    |text| check_code(text, EVENT_ID_MAX, |ch| ch.is_ascii_graphic())
);

string_id!(
    /// A department's unified social credit code (统一社会信用代码, GB 32100-2015):
    /// 18 characters whose last is a check character over the first 17.
    DeptCode,
    check_dept_code
);

/// The alphabet of unified social credit codes; a character's value is its index.
const CREDIT_CODE_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_code_value(ch: char) -> Option<u32> {
    CREDIT_CODE_ALPHABET
        .find(ch)
        .and_then(|index| u32::try_from(index).ok())
}

/// The check character of a unified social credit code's first 17 characters.
fn credit_code_check_char(body: &str) -> Result<char, IdError> {
    let mut sum = 0;
    for (position, (ch, weight)) in body.chars().zip(CREDIT_CODE_WEIGHTS).enumerate() {
        let value = credit_code_value(ch).ok_or(IdError::BadChar { ch, position })?;
        sum += value * weight;
    }
    let check = (31 - sum % 31) % 31;
    Ok(CREDIT_CODE_ALPHABET
        .chars()
        .nth(check as usize)
        .expect("a value mod 31 indexes the 31-character alphabet"))
}

fn check_dept_code(text: &str) -> Result<(), IdError> {
    let len = text.chars().count();
    if len != 18 {
        return Err(IdError::BadLength {
            expected: "18 characters",
            len,
        });
    }
    let (body, check) = text.split_at(17);
    let expected = credit_code_check_char(body)?;
    let found = check
        .chars()
        .next()
        .expect("an 18-character code has an 18th");
    if found != expected {
        return Err(IdError::BadCheckChar { found, expected });
    }
    Ok(())
}

impl DeptCode {
    /// Completes 17 characters with their check character. Used by simulators and tests
    /// that need valid codes; real codes arrive complete and go through [`DeptCode::parse`].
    pub fn with_check_char(body: &str) -> Result<Self, IdError> {
        let len = body.chars().count();
        if len != 17 {
            return Err(IdError::BadLength {
                expected: "17 characters before the check character",
                len,
            });
        }
        let check = credit_code_check_char(body)?;
        Self::parse(format!("{body}{check}"))
    }
}

/// The administrative level of a region code (行政区划).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    /// 全国: the all-zero code, covering every region.
    National,
    /// 省: two significant digits.
    Province,
    /// 市: four significant digits.
    City,
    /// 县: six significant digits.
    County,
    /// 乡/镇/街道: nine digits.
    Township,
    /// 村/社区: twelve digits.
    Village,
}

impl RegionLevel {
    /// How many leading digits identify a region of this level.
    pub fn significant_digits(self) -> usize {
        match self {
            RegionLevel::National => 0,
            RegionLevel::Province => 2,
            RegionLevel::City => 4,
            RegionLevel::County => 6,
            RegionLevel::Township => 9,
            RegionLevel::Village => 12,
        }
    }

    /// The code's length at this level: 6 digits up to county, then 9 and 12.
    fn code_len(self) -> usize {
        self.significant_digits().max(6)
    }
}

string_id!(
    /// A region code (行政区划代码) of 6 (province, city, county), 9 (township) or 12
    /// (village) digits. A region covers every code that starts with its significant
    /// digits: `330100` (a city) covers `330106` and `330106001001`.
    RegionCode,
    check_region_code
);

fn check_region_code(text: &str) -> Result<(), IdError> {
    let len = text.chars().count();
    if !matches!(len, 6 | 9 | 12) {
        return Err(IdError::BadLength {
            expected: "6, 9 or 12 digits",
            len,
        });
    }
    match text.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        Some((position, ch)) => Err(IdError::BadChar { ch, position }),
        None => Ok(()),
    }
}

impl RegionCode {
    /// The digits that identify the region: trailing all-zero parts are padding.
    pub fn significant(&self) -> &str {
        &self.0[..self.level().significant_digits()]
    }

    /// The region's administrative level, read from its significant digits.
    pub fn level(&self) -> RegionLevel {
        let code = self.0.as_str();
        if code.len() == 12 && !code.ends_with("000") {
            RegionLevel::Village
        } else if code.len() >= 9 && &code[6..9] != "000" {
            RegionLevel::Township
        } else if &code[4..6] != "00" {
            RegionLevel::County
        } else if &code[2..4] != "00" {
            RegionLevel::City
        } else if &code[..2] != "00" {
            RegionLevel::Province
        } else {
            RegionLevel::National
        }
    }

    /// Whether `other` lies inside this region (a region contains itself).
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(self.significant())
    }

    /// The region of `level` that contains this one, or `None` when this region is above
    /// that level (a county has no township ancestor).
    pub fn ancestor(&self, level: RegionLevel) -> Option<RegionCode> {
        if level > self.level() {
            return None;
        }
        let digits = level.significant_digits();
        let mut code = self.0[..digits].to_owned();
        code.extend(std::iter::repeat_n('0', level.code_len() - digits));
        Some(RegionCode(code))
    }
}

/// Why a text is not an alert id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AlertIdError(String);

/// An alert's id: the case, the rule and the how-many-th time the rule fired on the case.
/// Deterministic, so supervision actions point at the same alert after a rebuild. Written
/// `{case_no}/{rule}/{occurrence}`, e.g. `HZ-2026-0001/T2/1`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AlertId {
    /// The case the alert is about.
    pub case_no: CaseNo,
    /// The rule that raised it.
    pub rule: RuleId,
    /// The how-many-th alert of this rule on this case, from 1.
    pub occurrence: u32,
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.case_no, self.rule, self.occurrence)
    }
}

impl fmt::Debug for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlertId({self})")
    }
}

impl FromStr for AlertId {
    type Err = AlertIdError;
    fn from_str(text: &str) -> Result<Self, AlertIdError> {
        // The case number may itself contain `/`, so split from the right.
        let mut parts = text.rsplitn(3, '/');
        let (Some(occurrence), Some(rule), Some(case_no)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(AlertIdError(format!(
                "`{text}` is not of the form case_no/rule/occurrence"
            )));
        };
        let occurrence = occurrence
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                AlertIdError(format!(
                    "occurrence `{occurrence}` is not a positive number"
                ))
            })?;
        let case_no = CaseNo::parse(case_no)
            .map_err(|error| AlertIdError(format!("case number `{case_no}`: {error}")))?;
        Ok(AlertId {
            case_no,
            rule: rule
                .parse()
                .map_err(|error: UnknownRule| AlertIdError(error.to_string()))?,
            occurrence,
        })
    }
}

impl TryFrom<String> for AlertId {
    type Error = AlertIdError;
    fn try_from(text: String) -> Result<Self, AlertIdError> {
        text.parse()
    }
}

impl From<AlertId> for String {
    fn from(id: AlertId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_round_trip_even_with_slashes_in_the_case_number() {
        let id: AlertId = "HZ/2026/0001/T2/3".parse().expect("valid id");
        assert_eq!(id.case_no.as_str(), "HZ/2026/0001");
        assert_eq!(id.rule, RuleId::T2);
        assert_eq!(id.occurrence, 3);
        assert_eq!(id.to_string(), "HZ/2026/0001/T2/3");
        assert!("HZ/X9/1".parse::<AlertId>().is_err());
        assert!("HZ/T2/0".parse::<AlertId>().is_err());
        assert!("T2/1".parse::<AlertId>().is_err());
    }

    #[test]
    fn case_numbers_are_bounded_tokens() {
        assert!(CaseNo::parse("HZ-2026-000001").is_ok());
        assert!(CaseNo::parse("杭州/2026/1").is_ok());
        assert_eq!(CaseNo::parse(""), Err(IdError::Empty));
        assert_eq!(
            CaseNo::parse("x".repeat(51)),
            Err(IdError::TooLong { max: 50, len: 51 })
        );
        assert_eq!(
            CaseNo::parse("a b"),
            Err(IdError::BadChar {
                ch: ' ',
                position: 1
            })
        );
    }

    #[test]
    fn department_codes_carry_a_check_character() {
        // A code from a real business licence.
        assert!(DeptCode::parse("91440300708461136T").is_ok());
        assert_eq!(
            DeptCode::parse("91440300708461136U"),
            Err(IdError::BadCheckChar {
                found: 'U',
                expected: 'T'
            })
        );
        assert!(matches!(
            DeptCode::parse("91440300708461136"),
            Err(IdError::BadLength { len: 17, .. })
        ));
        assert!(matches!(
            DeptCode::parse("9144030070846113IT"),
            Err(IdError::BadChar { ch: 'I', .. })
        ));
        let made = DeptCode::with_check_char("11330100MB0000001").expect("valid body");
        assert!(DeptCode::parse(made.as_str()).is_ok());
    }

    #[test]
    fn region_levels_and_scopes() {
        let province = RegionCode::parse("330000").expect("valid");
        let city = RegionCode::parse("330100").expect("valid");
        let county = RegionCode::parse("330106").expect("valid");
        let township = RegionCode::parse("330106001").expect("valid");
        let village = RegionCode::parse("330106001002").expect("valid");
        assert_eq!(province.level(), RegionLevel::Province);
        assert_eq!(city.level(), RegionLevel::City);
        assert_eq!(county.level(), RegionLevel::County);
        assert_eq!(township.level(), RegionLevel::Township);
        assert_eq!(village.level(), RegionLevel::Village);
        assert!(city.contains(&village) && province.contains(&city));
        assert!(!county.contains(&city));
        assert!(
            !RegionCode::parse("330200")
                .expect("valid")
                .contains(&county)
        );
        assert_eq!(village.ancestor(RegionLevel::City), Some(city.clone()));
        assert_eq!(village.ancestor(RegionLevel::Township), Some(township));
        assert_eq!(county.ancestor(RegionLevel::Township), None);
        assert_eq!(city.ancestor(RegionLevel::City), Some(city));
        assert!(matches!(
            RegionCode::parse("3301"),
            Err(IdError::BadLength { len: 4, .. })
        ));
        assert!(matches!(
            RegionCode::parse("33010a"),
            Err(IdError::BadChar { ch: 'a', .. })
        ));
    }
}
