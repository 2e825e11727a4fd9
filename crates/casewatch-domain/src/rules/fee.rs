//! The fee rules, F1–F3 of DOMAIN.md: a fee charged on an item that charges none (F1), an
//! amount above its standard or a completion total unlike the tickets' sum (F2), and a fee
//! collected outside the unified ticket, 一票制 (F3).
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::{Finding, Judging, fen};
use crate::case::Case;
use crate::catalogue::RuleId;
use crate::event::FeeItem;

impl Case {
    /// F1: a ticket of `total` fen on an item (or case) that charges no fee.
    pub(super) fn check_fee_on_free_item(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        ticket_no: &str,
        total: u64,
    ) {
        let ctx = judging.ctx;
        let profile = ctx.rules.item(&self.item_code);
        let charges_fee = profile.charges_fee.or(self.fee_required);
        if charges_fee == Some(false) && total > 0 {
            let finding = Finding::new(
                fen(total),
                fen(0),
                "fee charged on an item that charges none",
            )
            .at_step(seq);
            self.raise(judging, RuleId::F1, ticket_no.to_owned(), finding);
        }
    }

    /// F2: a ticket's line above the standard of its fee code (the rule book's, or else
    /// the one the ticket states).
    pub(super) fn check_fee_standards(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        ticket_no: &str,
        items: &[FeeItem],
    ) {
        let ctx = judging.ctx;
        let profile = ctx.rules.item(&self.item_code);
        for item in items {
            let standard = profile
                .fee_standards_fen
                .get(&item.fee_code)
                .copied()
                .unwrap_or(item.standard_fen);
            if item.amount_fen > standard {
                let finding = Finding::new(
                    fen(item.amount_fen),
                    fen(standard),
                    format!("fee `{}` above its standard", item.fee_code),
                )
                .at_step(seq);
                let subject = format!("{ticket_no}:{}", item.fee_code);
                self.raise(judging, RuleId::F2, subject, finding);
            }
        }
    }

    /// F2: a completion whose fee total differs from the sum of the case's tickets.
    pub(super) fn check_fee_total(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        fee_total_fen: u64,
    ) {
        if fee_total_fen != self.tickets_total_fen {
            let finding = Finding::new(
                fen(fee_total_fen),
                fen(self.tickets_total_fen),
                "completion fee total differs from the sum of the fee tickets",
            )
            .at_step(seq);
            self.raise(judging, RuleId::F2, "total".to_owned(), finding);
        }
    }

    /// F3: a ticket of `total` fen collected outside the unified ticket.
    pub(super) fn check_unified_ticket(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        ticket_no: &str,
        (unified_ticket, total): (bool, u64),
    ) {
        if !unified_ticket {
            let finding = Finding::new(
                fen(total),
                fen(0),
                "fee collected outside the unified ticket",
            )
            .at_step(seq);
            self.raise(judging, RuleId::F3, ticket_no.to_owned(), finding);
        }
    }
}
