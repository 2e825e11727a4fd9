//! Kafka's default partitioner for keyed records, so that a case lands in the same
//! partition whichever backend holds the log, and a log can move from the embedded backend
//! to Kafka (or back) without reshuffling cases between projectors.

/// The seed of the Java client's `Utils.murmur2`.
const SEED: u32 = 0x9747_b28c;
/// The mixing constant and shift of MurmurHash2.
const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

/// The partition Kafka's default partitioner gives a record with this key:
/// `toPositive(murmur2(utf8(key))) % partitions`.
///
/// # Panics
///
/// If `partitions` is 0: a log always has at least one partition.
pub fn partition_for_key(key: &str, partitions: u32) -> u32 {
    assert!(partitions > 0, "a log has at least one partition");
    // `toPositive` in the Java client masks the sign bit rather than taking `abs`, which
    // would overflow for `i32::MIN`.
    (murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions
}

/// MurmurHash2 exactly as `org.apache.kafka.common.utils.Utils.murmur2` computes it: words
/// read little-endian, the tail folded in from its highest byte down, Java's wrapping `int`
/// arithmetic, and logical (`>>>`) shifts. The result is the Java `int`'s bit pattern.
fn murmur2(data: &[u8]) -> u32 {
    // Java's `seed ^ length` takes the length as an `int`; keys longer than 2 GiB cannot
    // reach the partitioner, so the truncation never changes a result.
    let mut h = SEED ^ (data.len() as u32);

    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The Java `switch` falls through from case 3 to case 1.
    let tail = words.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `murmur2` as the Java client's signed `int`.
    fn java_murmur2(data: &[u8]) -> i32 {
        i32::from_ne_bytes(murmur2(data).to_ne_bytes())
    }

    /// The vectors of `UtilsTest.testMurmur2` in the Kafka Java client.
    #[test]
    fn murmur2_matches_the_java_client_test_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(
                java_murmur2(data),
                expected,
                "murmur2 of `{}`",
                String::from_utf8_lossy(data)
            );
        }
    }

    /// Values Akka's Kafka-compatible sharding checks against the Java client: one key of
    /// each tail length (1, 2, 3 bytes, a whole word, a word and one byte).
    #[test]
    fn murmur2_matches_values_checked_by_akka() {
        let cases = [
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("1234", -1_614_185_708),
            ("12345", -1_188_365_604),
        ];
        for (key, expected) in cases {
            assert_eq!(java_murmur2(key.as_bytes()), expected, "murmur2 of `{key}`");
        }
    }

    #[test]
    fn partition_is_the_positive_hash_modulo_the_partition_count() {
        // murmur2("foobar") = -790332482; its positive form is 2^31 - 790332482.
        let positive = 2_147_483_648_u32 - 790_332_482;
        for partitions in [1, 2, 3, 7, 12, 64, 1000] {
            assert_eq!(
                partition_for_key("foobar", partitions),
                positive % partitions
            );
        }
        // murmur2("abc") = 479470107 is already positive.
        assert_eq!(partition_for_key("abc", 10), 7);
        assert_eq!(partition_for_key("abc", 16), 479_470_107 % 16);
    }

    #[test]
    fn keys_are_hashed_as_utf8_bytes() {
        let key = "浙江省-330106-2025-000123";
        let expected = (murmur2(key.as_bytes()) & 0x7fff_ffff) % 12;
        assert_eq!(partition_for_key(key, 12), expected);
        assert_ne!(
            murmur2(key.as_bytes()),
            murmur2("330106-2025-000123".as_bytes())
        );
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        for partitions in [1, 2, 3, 8, 13, 100] {
            let mut used = vec![false; partitions as usize];
            for i in 0..2000 {
                let key = format!("330106-{i:06}");
                let p = partition_for_key(&key, partitions);
                assert!(p < partitions, "partition {p} of {partitions}");
                assert_eq!(p, partition_for_key(&key, partitions), "stable for `{key}`");
                used[p as usize] = true;
            }
            // 2000 keys over at most 100 partitions: a hash that leaves one empty is broken.
            assert!(
                used.iter().all(|u| *u),
                "every partition of {partitions} is used"
            );
        }
    }

    #[test]
    fn the_empty_key_has_a_partition() {
        for partitions in [1, 5, 64] {
            assert!(partition_for_key("", partitions) < partitions);
        }
    }

    #[test]
    #[should_panic(expected = "at least one partition")]
    fn zero_partitions_is_refused() {
        partition_for_key("abc", 0);
    }
}
