//! `PolicyEvent`: protobuf ↔ domain.

use casewatch_domain::ValidationError;
use casewatch_domain::policy::{PolicyChange, PolicyContent, PolicyPart};

use crate::convert::{ProtoEnum, enum_field, timestamp_field, timestamp_to_pb};
use crate::pb;

impl TryFrom<pb::PolicyEvent> for PolicyChange {
    type Error = ValidationError;

    /// Reads the document by its part, every key known or refused.
    fn try_from(event: pb::PolicyEvent) -> Result<Self, ValidationError> {
        let part: PolicyPart = enum_field("part", event.part)?;
        let content = PolicyContent::parse(part, event.version, &event.document)?;
        let required = |field: &str, text: String| {
            if text.trim().is_empty() {
                Err(ValidationError::new(field, "must be given"))
            } else {
                Ok(text)
            }
        };
        Ok(PolicyChange {
            content,
            author: required("author", event.author)?,
            reason: required("reason", event.reason)?,
            applies_from: timestamp_field("applies_from", event.applies_from)?,
        })
    }
}

impl From<&PolicyChange> for pb::PolicyEvent {
    /// The document as this build renders the part, which reads back as the same change.
    fn from(change: &PolicyChange) -> Self {
        pb::PolicyEvent {
            part: change.content.kind().to_pb(),
            version: change.content.version(),
            document: change.content.document(),
            author: change.author.clone(),
            reason: change.reason.clone(),
            applies_from: Some(timestamp_to_pb(change.applies_from)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode_record, encode_record};
    use casewatch_domain::record::Content;
    use prost::Message;

    fn at(text: &str) -> casewatch_domain::Timestamp {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("valid instant")
            .to_utc()
    }

    fn event() -> pb::PolicyEvent {
        pb::PolicyEvent {
            part: PolicyPart::RuleBook.to_pb(),
            version: 2,
            document: "version = 2\n[defaults]\nt8_notice_within_days = 7\n".into(),
            author: "province-admin".into(),
            reason: "省政务办〔2026〕5号".into(),
            applies_from: Some(timestamp_to_pb(at("2026-12-08T00:00:00+08:00"))),
        }
    }

    #[test]
    fn a_policy_record_reads_as_the_change_it_carries() {
        let recorded_at = at("2026-12-07T15:00:00+08:00");
        let bytes = encode_record(
            pb::RecordKind::PolicyEvent,
            recorded_at,
            &event().encode_to_vec(),
        );
        let (read_at, content) = decode_record(&bytes).expect("the record reads");
        assert_eq!(read_at, recorded_at);
        let Content::Policy(change) = content else {
            panic!("a change of policy: {content:?}");
        };
        assert_eq!(change.author, "province-admin");
        assert_eq!(change.applies_from, at("2026-12-08T00:00:00+08:00"));
        let PolicyContent::RuleBook(book) = change.content else {
            panic!("a rule book");
        };
        assert_eq!((book.version, book.defaults.t8_notice_within_days), (2, 7));
    }

    #[test]
    fn a_change_renders_as_an_event_that_reads_back_as_it() {
        let change = PolicyChange::try_from(event()).expect("a change");
        assert_eq!(
            PolicyChange::try_from(pb::PolicyEvent::from(&change)),
            Ok(change)
        );
    }

    #[test]
    fn a_bad_policy_event_is_refused_by_field() {
        let refused = |change: fn(&mut pb::PolicyEvent)| {
            let mut event = event();
            change(&mut event);
            PolicyChange::try_from(event)
                .expect_err("refused")
                .field()
                .to_owned()
        };
        assert_eq!(refused(|event| event.part = 0), "part");
        assert_eq!(refused(|event| event.version = 3), "version");
        assert_eq!(
            refused(|event| event.document = "version = 2\nthresholds = 1\n".into()),
            "document"
        );
        assert_eq!(refused(|event| event.author = " ".into()), "author");
        assert_eq!(refused(|event| event.reason = String::new()), "reason");
        assert_eq!(refused(|event| event.applies_from = None), "applies_from");
    }
}
