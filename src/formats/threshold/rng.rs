//! The operating system's generator, for APIs (vsss-rs, hpke) that want an
//! infallible `CryptoRng`: a failed draw is remembered, and the caller
//! discards whatever was computed from it ([`OsRng::finish`]) instead of
//! panicking.

use std::convert::Infallible;

use ring::rand::{SecureRandom, SystemRandom};

use super::ThresholdError;

pub(crate) struct OsRng {
    os: SystemRandom,
    failed: bool,
}

impl OsRng {
    pub(crate) fn new() -> Self {
        Self { os: SystemRandom::new(), failed: false }
    }

    /// `Err` if any draw failed: everything derived since [`OsRng::new`] is
    /// then worthless and must be dropped.
    pub(crate) fn finish(self) -> Result<(), ThresholdError> {
        if self.failed { Err(ThresholdError::Random) } else { Ok(()) }
    }
}

impl rand_core_010::TryRng for OsRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if self.os.fill(dst).is_err() {
            dst.fill(0);
            self.failed = true;
        }
        Ok(())
    }
}

impl rand_core_010::TryCryptoRng for OsRng {}
