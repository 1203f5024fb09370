//! Custody of the break-glass private key, `file` mode: the key lives in a
//! file of its own (`break_glass_key_file`), read only when a reveal needs
//! it and zeroized right after, so the online service holds it in memory
//! for one reveal at a time and never at rest in its key set.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("cannot read the break-glass key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("the break-glass key file {0} does not hold a base64 key")]
    Malformed(PathBuf),
}

/// Reads the private key (base64 text, as `veilctl init` writes it).
pub fn read_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|source| CustodyError::Read { path: path.into(), source })?,
    );
    Base64::decode_vec(text.trim())
        .map(Zeroizing::new)
        .map_err(|_| CustodyError::Malformed(path.into()))
}
