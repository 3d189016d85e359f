//! Members held to the memory budget: a member too large for memory beside its parents is
//! spooled; one that can never fit is `Unscannable` naming the setting, not retried forever;
//! one that does not fit now because of other objects is retried (or spooled).

use std::time::Duration;

use pretty_assertions::assert_eq;

use super::tests::{EICAR, engine, labels, limits, unscannable_reason, zip, zip_with};
use super::*;

fn stored(members: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(::zip::CompressionMethod::Stored, members)
}

/// `n` bytes that do not compress.
fn noise(n: usize) -> Vec<u8> {
    (0..n as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 ^ (i as u8))
        .collect()
}

/// An object (a zip) holding `inner.zip` (600 KiB: `big.bin`) and `eicar.com`.
fn nested() -> Vec<u8> {
    let inner = stored(&[("big.bin", &noise(600 << 10))]);
    zip(&[("inner.zip", &inner), ("eicar.com", EICAR)])
}

/// Inspects `data` as a fetched object: its own bytes held against `budget` first.
fn fetched(data: &[u8], budget: &Budget) -> Inspection {
    let engine = engine();
    let rules = engine.rules();
    let limits = Limits {
        max_member_size: 4 << 20,
        ..limits()
    };
    let look = Look {
        engine: &engine,
        rules: &rules,
        limits: &limits,
        policy: &crate::policy::Policy::OFF,
        budget,
    };
    let hold = budget.try_hold(data.len() as u64);
    assert!(matches!(hold, Hold::Held(_)), "the object fits");
    let body = Body {
        holding: Holding::of_hold(&hold),
        ..Body::bytes(data)
    };
    let object = ObjectRef::new("uploads", "n.zip");
    inspect_body(&look, body, &object, Duration::from_secs(20))
}

#[test]
fn a_member_that_memory_cannot_hold_beside_its_parents_is_spooled() {
    let spool = tempfile::tempdir().unwrap();
    let budget = Budget::memory(1 << 20).with_spool(spool.path().to_owned(), 16 << 20);
    let found = fetched(&nested(), &budget);
    assert_eq!(found.incomplete, None, "{found:?}");
    assert_eq!(found.members, 3, "inner.zip, big.bin, eicar.com");
    assert_eq!(labels(&found), ["n.zip>eicar.com:EICAR_Test_File"]);
    assert!(
        matches!(budget.try_hold(1 << 20), Hold::Held(_)),
        "all given back"
    );
}

#[test]
fn a_member_that_can_never_fit_is_unscannable_naming_the_setting() {
    let budget = Budget::memory(1 << 20);
    let found = fetched(&nested(), &budget);
    let Some(Incomplete::Unscannable(why)) = &found.incomplete else {
        panic!("{found:?}")
    };
    assert!(why.starts_with("n.zip>inner.zip needs more than"), "{why}");
    assert!(
        why.contains("MAX_OBJECT_SIZE (1048576 bytes)") && why.contains("SPOOL_DIR"),
        "{why}"
    );
    // The members after it are scanned all the same.
    assert!(matches!(found.verdict(), Ok(Verdict::Infected(_))));
    let clean = stored(&[("inner.zip", &stored(&[("big.bin", &noise(600 << 10))]))]);
    let why = unscannable_reason(fetched(&clean, &budget));
    assert!(
        why.contains("MAX_OBJECT_SIZE"),
        "a verdict, not a retry: {why}"
    );
}

#[test]
fn a_member_the_spool_cannot_hold_either_names_the_spool() {
    let spool = tempfile::tempdir().unwrap();
    let budget = Budget::memory(1 << 20).with_spool(spool.path().to_owned(), 300 << 10);
    let found = fetched(&nested(), &budget);
    let Some(Incomplete::Unscannable(why)) = &found.incomplete else {
        panic!("{found:?}")
    };
    assert!(why.contains("MAX_SPOOL_SIZE (307200 bytes)"), "{why}");
}

#[test]
fn a_member_that_others_crowd_out_of_memory_goes_to_the_spool() {
    let spool = tempfile::tempdir().unwrap();
    let budget = Budget::memory(1 << 20).with_spool(spool.path().to_owned(), 16 << 20);
    let other = budget.try_hold(900 << 10);
    let archive = zip(&[("a.bin", &noise(600 << 10))]);
    let object = ObjectRef::new("uploads", "a.zip");
    let found = super::tests::look_with(&engine(), &archive, &object, &limits(), &budget);
    assert_eq!(found.verdict(), Ok(Verdict::Clean));
    drop(other);
}
