//! A throwaway certificate authority for TLS tests: a CA, server
//! certificates for `localhost` and `127.0.0.1`, and client certificates,
//! written as PEM files the way an operator would hand them to veild.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::Res;

/// A CA whose certificate is `ca_pem`.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub ca_pem: String,
}

/// A certificate (chain: leaf, then the CA) and its key, as PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The leaf's DER, to tell which certificate a server presented.
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new(name: &str) -> Res<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let ca_pem = params.self_signed(&key)?.pem();
        Ok(Self { issuer: Issuer::new(params, key), ca_pem })
    }

    /// Writes the CA certificate to `path`.
    pub fn write_ca(&self, path: &Path) -> Res<PathBuf> {
        std::fs::write(path, &self.ca_pem)?;
        Ok(path.to_path_buf())
    }

    /// A server certificate for `localhost` and `127.0.0.1`, written to
    /// `<dir>/<name>.cert.pem` and `<dir>/<name>.key.pem`.
    pub fn server(&self, dir: &Path, name: &str) -> Res<Issued> {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        self.issue(dir, name, names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate (for mutual TLS).
    pub fn client(&self, dir: &Path, name: &str) -> Res<Issued> {
        self.issue(dir, name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        dir: &Path,
        name: &str,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Res<Issued> {
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let leaf = params.signed_by(&key, &self.issuer)?;
        let cert = dir.join(format!("{name}.cert.pem"));
        let key_file = dir.join(format!("{name}.key.pem"));
        std::fs::write(&cert, format!("{}{}", leaf.pem(), self.ca_pem))?;
        std::fs::write(&key_file, key.serialize_pem())?;
        Ok(Issued { cert, key: key_file, der: leaf.der().to_vec() })
    }
}
