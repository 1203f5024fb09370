//! The pseudonym CA: issues end-entity certificates for client-supplied
//! P-256 keys (ring-backed, via rcgen).

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, RevocationReason, RevokedCertParams, SanType,
    SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use time::OffsetDateTime;

use crate::formats::keys::public_key::P256PublicKey;

#[derive(Debug, thiserror::Error)]
pub enum X509Error {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("invalid certificate field: {0}")]
    Field(String),
    #[error("no randomness available")]
    Random,
}

/// Marks a pseudonym certificate as valid only for connection rooms
/// (draft-mahy-mimi-pseudonyms §7). It sits under 1.3.6.1.4.1.32473, the
/// enterprise number RFC 5612 reserves for documentation: a private-use
/// placeholder until veil registers its own PEN (docs/API.md). Non-critical,
/// so a relying party that does not know it still accepts the certificate;
/// hubs learn it from `POST /v1/mls/key-packages/validate`.
pub const CONNECTION_ONLY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 1, 1];
/// The extension's value: DER `NULL`; its presence is the whole signal.
const DER_NULL: [u8; 2] = [0x05, 0x00];

/// What goes into a pseudonym certificate.
#[derive(Debug, Clone)]
pub struct PseudonymCertRequest<'a> {
    pub id: &'a str,
    pub uri: &'a str,
    pub key: &'a P256PublicKey,
    pub not_before: i64,
    pub not_after: i64,
    /// Adds the [`CONNECTION_ONLY_OID`] extension.
    pub connection_only: bool,
    /// A further client of the pseudonym: its id (the CN and the serial's
    /// source) and URI (the second SAN URI, after the pseudonym's).
    pub client: Option<ClientName<'a>>,
}

/// A pseudonym's further client as its certificate names it.
#[derive(Debug, Clone, Copy)]
pub struct ClientName<'a> {
    pub id: &'a str,
    pub uri: &'a str,
}

/// The CA key and certificate, parsed once at startup.
pub struct PseudonymCa {
    issuer: Issuer<'static, KeyPair>,
    cert_der: Vec<u8>,
    cert_pem: String,
    key_id: String,
    /// Where this CA's CRL is published: written into every certificate
    /// it issues as a CRL Distribution Point.
    crl_uri: Option<String>,
}

/// A certificate the CRL lists.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: Vec<u8>,
    /// A suspension (`certificateHold`, removed again when lifted) rather
    /// than a revocation.
    pub on_hold: bool,
}

impl std::fmt::Debug for PseudonymCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymCa(..)")
    }
}

impl PseudonymCa {
    /// A new self-signed root: returns (private key PEM, certificate PEM).
    pub fn generate(domain: &str) -> Result<(String, String), X509Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("veil pseudonym CA for {domain}"));
        dn.push(DnType::OrganizationName, domain);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(3650);
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key)?;
        Ok((key.serialize_pem(), cert.pem()))
    }

    pub fn load(key_pem: &str, cert_pem: &str) -> Result<Self, X509Error> {
        let key = KeyPair::from_pem(key_pem)?;
        let public = P256PublicKey::from_sec1(key.public_key_raw())
            .map_err(|e| X509Error::Field(e.to_string()))?;
        let cert_der = pem_to_der(cert_pem)?;
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key)?;
        Ok(Self {
            issuer,
            cert_der,
            cert_pem: cert_pem.to_string(),
            key_id: crate::formats::keys::key_id(&public),
            crl_uri: None,
        })
    }

    /// Publishes the CRL at `uri`: certificates issued from now on point
    /// to it.
    pub fn set_crl_uri(&mut self, uri: String) {
        self.crl_uri = Some(uri);
    }

    /// A CRL (RFC 5280 §5) listing `revoked`, valid from `this_update`
    /// until `next_update`, numbered `number` (increasing). Every entry's
    /// revocation date is `this_update` coarsened to the hour: the date a
    /// remedy acted would group an account's pseudonyms.
    pub fn crl(
        &self,
        revoked: &[RevokedEntry],
        this_update: i64,
        next_update: i64,
        number: u64,
    ) -> Result<Vec<u8>, X509Error> {
        let hour = timestamp(this_update - this_update.rem_euclid(3600))?;
        let params = CertificateRevocationListParams {
            this_update: timestamp(this_update)?,
            next_update: timestamp(next_update)?,
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|entry| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&entry.serial),
                    revocation_time: hour,
                    reason_code: entry.on_hold.then_some(RevocationReason::CertificateHold),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.der().to_vec())
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues the pseudonym certificate: SAN URI = pseudonym URI (then the
    /// client URI, for a further client), CN = id (the client's),
    /// digitalSignature, clientAuth, CA:FALSE, AKI/SKI, the CRL
    /// Distribution Point, the serial [`pseudonym_serial`] of the id (so the
    /// CRL can list it without storing it), and the connection-only marker
    /// when asked.
    pub fn issue_pseudonym(
        &self,
        request: &PseudonymCertRequest<'_>,
    ) -> Result<Vec<u8>, X509Error> {
        let ia5 = |uri: &str| uri.try_into().map_err(|_| X509Error::Field("uri".into()));
        let mut names = vec![SanType::URI(ia5(request.uri)?)];
        // A further client: named by its own id, the pseudonym's URI first.
        let mut common_name = request.id;
        if let Some(client) = request.client {
            names.push(SanType::URI(ia5(client.uri)?));
            common_name = client.id;
        }
        let extensions = if request.connection_only {
            vec![CustomExtension::from_oid_content(CONNECTION_ONLY_OID, DER_NULL.to_vec())]
        } else {
            Vec::new()
        };
        self.issue_end_entity(
            common_name,
            names,
            request.key,
            (request.not_before, request.not_after),
            extensions,
            SerialNumber::from_slice(&pseudonym_serial(common_name)),
        )
    }

    /// The end-entity profile shared by pseudonym and linked certificates,
    /// so both look alike apart from their names.
    pub(super) fn issue_end_entity(
        &self,
        common_name: &str,
        subject_alt_names: Vec<SanType>,
        key: &P256PublicKey,
        (not_before, not_after): (i64, i64),
        custom_extensions: Vec<CustomExtension>,
        serial: SerialNumber,
    ) -> Result<Vec<u8>, X509Error> {
        let mut params = CertificateParams::default();
        params.custom_extensions = custom_extensions;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.subject_alt_names = subject_alt_names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial);
        if let Some(uri) = &self.crl_uri {
            params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![uri.clone()] }];
        }
        params.not_before = timestamp(not_before)?;
        params.not_after = timestamp(not_after)?;
        Ok(params.signed_by(key, &self.issuer)?.der().to_vec())
    }
}

/// The serial of pseudonym `id`'s certificate: SHA-256 of the id, cut to
/// 16 bytes and made positive as [`random_serial`]. The id is 128 random
/// bits, so the serial is as unpredictable as a random one (CA/Browser
/// Forum: at least 64 bits of CSPRNG output), and the CRL can name it from
/// the id alone.
pub fn pseudonym_serial(id: &str) -> [u8; 16] {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("veil pseudonym serial\0{id}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.as_ref().get(..16).unwrap_or(&[1; 16]));
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    bytes
}

/// 127 random bits: positive and at most 16 bytes, as RFC 5280 asks.
pub(super) fn random_serial() -> Result<SerialNumber, X509Error> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| X509Error::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn timestamp(unix: i64) -> Result<OffsetDateTime, X509Error> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|e| X509Error::Field(e.to_string()))
}

/// Decodes the first PEM block.
pub fn pem_to_der(text: &str) -> Result<Vec<u8>, X509Error> {
    pem::parse(text).map(|p| p.into_contents()).map_err(|e| X509Error::Field(format!("PEM: {e}")))
}

/// Encodes DER as a PEM certificate block.
pub fn der_to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der))
}
