//! The record log's coordinates and its hash chain, which every part of Casewatch shares:
//! the log numbers its records by partition and offset, the views record how far they have
//! folded and the chain they have seen, and the auditor recomputes the chain from the log.

use sha2::{Digest as _, Sha256};

/// A partition number, `0..partitions`.
pub type Partition = u32;
/// A record's offset within its partition: dense, from 0.
pub type Offset = u64;
/// A SHA-256 digest: a link of a hash chain, a record's hash, a views digest.
pub type Hash = [u8; 32];

/// Where a record lies on the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The partition that holds it.
    pub partition: Partition,
    /// Its offset within that partition.
    pub offset: Offset,
}

/// The link every chain starts from.
pub const GENESIS: Hash = [0; 32];

/// One link of a hash chain: `SHA-256(previous || record bytes)`.
pub fn chain(previous: &Hash, bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(bytes);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_hashes_the_previous_link_then_the_record() {
        let first = chain(&GENESIS, b"record");
        assert_ne!(first, GENESIS);
        assert_eq!(first, chain(&GENESIS, b"record"));
        assert_ne!(
            chain(&first, b"record"),
            first,
            "a link depends on the one before"
        );
        let mut joined = GENESIS.to_vec();
        joined.extend_from_slice(b"record");
        assert_eq!(first, <[u8; 32]>::from(Sha256::digest(&joined)));
    }
}
