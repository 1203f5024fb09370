//! MLS credentials (RFC 9420 §5.3) built with openmls' own types, so the
//! bytes are exactly what an openmls client puts in its LeafNode.

use openmls::prelude::tls_codec::{Serialize as _, VLBytes};
use openmls::prelude::{Credential, CredentialType};

#[derive(Debug, thiserror::Error)]
#[error("MLS credential encoding failed: {0}")]
pub struct MlsError(String);

/// A TLS-serialized `Credential` of type x509: each certificate's DER as an
/// `opaque cert_data<V>`, end-entity first.
pub fn x509_credential(chain: &[&[u8]]) -> Result<Vec<u8>, MlsError> {
    let mut content = Vec::new();
    for der in chain {
        VLBytes::new(der.to_vec())
            .tls_serialize(&mut content)
            .map_err(|e| MlsError(e.to_string()))?;
    }
    Credential::new(CredentialType::X509, content)
        .tls_serialize_detached()
        .map_err(|e| MlsError(e.to_string()))
}
