//! The hash state of the tables keyed by what the evidence holds: flows, datagrams waiting
//! for fragments, encapsulation chains, pairing groups of flow records, addresses.
//!
//! Seeded at random once per process (from the operating system's randomness, through
//! the standard library's `RandomState`), so that traffic crafted to collide in these
//! tables (every packet of a flood landing in one bucket: quadratic lookups) cannot be
//! computed offline from a seed in the source. Nothing written depends on it: tables are
//! sorted before anything leaves them, and the tests compare whole outputs across seeds.
//! [`set_hash_seed`] fixes it before first use (the command does for `HOPTRACE_HASH_SEED`),
//! to reproduce a run's memory layout exactly.

use foldhash::SharedSeed;
use foldhash::fast::SeedableRandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

static STATE: OnceLock<(u64, SeedableRandomState)> = OnceLock::new();

/// The process's hash state for the evidence tables: a [`BuildHasher`] whose `Default` is
/// the process's seed, so maps built with `Default::default()` share it.
#[derive(Clone, Debug)]
pub struct Seeded(SeedableRandomState);

impl Default for Seeded {
    #[inline(always)]
    fn default() -> Seeded {
        Seeded(STATE.get_or_init(|| seeded(random_seed())).1.clone())
    }
}

impl BuildHasher for Seeded {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline(always)]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// Fixes the process's hash seed. Only before the first table is built: afterwards the
/// seed drawn stays, and is returned as the error.
pub fn set_hash_seed(seed: u64) -> Result<(), u64> {
    let mut set = false;
    let (now, _) = STATE.get_or_init(|| {
        set = true;
        seeded(seed)
    });
    if set || *now == seed {
        Ok(())
    } else {
        Err(*now)
    }
}

fn seeded(seed: u64) -> (u64, SeedableRandomState) {
    // Once per process: the shared seed lives as long as the tables.
    let shared: &'static SharedSeed = Box::leak(Box::new(SharedSeed::from_u64(seed)));
    (seed, SeedableRandomState::with_seed(seed, shared))
}

/// 64 random bits: the standard library keys each `RandomState` from the operating
/// system's randomness.
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(0x686f_7074_7261_6365_u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_of_the_process_hashes_alike_and_the_seed_stays() {
        let (a, b) = (Seeded::default(), Seeded::default());
        assert_eq!(a.hash_one(0x1234_u64), b.hash_one(0x1234_u64));
        let (now, _) = STATE.get().unwrap();
        assert_eq!(set_hash_seed(*now), Ok(()));
        assert_eq!(set_hash_seed(now.wrapping_add(1)), Err(*now));
    }

    #[test]
    fn random_seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }
}
