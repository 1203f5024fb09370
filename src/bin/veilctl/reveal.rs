//! `veilctl break-glass partial|reveal`: the two steps of a reveal that
//! touch secrets, both done on the operator's own machine. A custodian's
//! share is used for one partial decryption and never sent; the
//! requester's key file or reveal key opens the released link here.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use clap::Args;
use serde::Deserialize;
use serde_json::json;
use veil::formats::glass_link::{
    self, Custodians, GlassError, GlassSuite, SealedLink, fingerprint, open_partial, seal_partial,
};
use veil::formats::threshold::{self, CustodianIndex, Encapsulated, KemPublicKey, KemSecretKey};
use veil::services::breakglass::custody::read_key_file;
use veil::services::breakglass::shares::CustodianRecord;
use zeroize::Zeroizing;

use crate::break_glass::{RequestList, show};
use crate::ceremony::{read_passphrase, read_share};
use crate::error::Failure;
use crate::http::{Api, parse};
use crate::output::{Output, print_json};
use crate::prompt::confirm;

#[derive(Debug, Args)]
pub struct PartialOpts {
    /// The request id (from `request` or `list`)
    id: String,
    /// Your share file (from `keygen`, `split` or `init --custodians`)
    #[arg(long)]
    share: PathBuf,
    /// Your share's passphrase (first line)
    #[arg(long)]
    passphrase_file: PathBuf,
    /// The ceremony's public record
    #[arg(long)]
    custodians: PathBuf,
    /// The requester's reveal-key fingerprint, as they told you out of band
    #[arg(long)]
    reveal_key_fingerprint: String,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct RevealOpts {
    /// The request id (from `request` or `list`)
    id: String,
    /// File custody: the break-glass key file
    #[arg(long, conflicts_with = "custodians", required_unless_present = "custodians")]
    key: Option<PathBuf>,
    /// A sealed key file's passphrase (first line)
    #[arg(long, requires = "key")]
    passphrase_file: Option<PathBuf>,
    /// Custodian custody: the ceremony's public record
    #[arg(long, requires = "reveal_key")]
    custodians: Option<PathBuf>,
    /// Custodian custody: the reveal key `request --reveal-key` wrote
    #[arg(long, requires = "custodians")]
    reveal_key: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    yes: bool,
}

#[derive(Deserialize)]
struct PartialInput {
    enc: String,
    sender_key: String,
    reveal_key: String,
}

#[derive(Deserialize)]
struct Released {
    suite: String,
    sealed_link: String,
    aad: String,
    sender_key: Option<String>,
    partials: Vec<ReleasedPartial>,
}

#[derive(Deserialize)]
struct ReleasedPartial {
    custodian: u8,
    sealed: String,
}

fn decode(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    Base64::decode_vec(text)
        .map_err(|_| Failure::refused(format!("the server sent a malformed {what}")))
}

fn read_record(path: &Path) -> Result<CustodianRecord, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    CustodianRecord::parse(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// A custodian's step: one partial decryption of the request's link,
/// proven against the custodian's verification point and sealed to the
/// requester's reveal key.
pub async fn partial(o: PartialOpts, api: &Api, output: Output) -> Result<(), Failure> {
    let record = read_record(&o.custodians)?;
    let file = read_share(&o.share)?;
    let share = file
        .open(&read_passphrase(&o.passphrase_file)?, &record)
        .map_err(|e| Failure::refused(format!("{}: {e}", o.share.display())))?;
    let path = ["v1", "admin", "break-glass", &o.id, "partial-input"];
    let input: PartialInput = parse(api.get(&path).await?)?;
    let malformed = |what: &str| Failure::refused(format!("the server sent a malformed {what}"));
    let reveal_key = KemPublicKey::from_bytes(&decode("reveal key", &input.reveal_key)?)
        .map_err(|_| malformed("reveal key"))?;
    let given = o.reveal_key_fingerprint.trim().to_ascii_lowercase();
    if fingerprint(&reveal_key) != given {
        return Err(Failure::refused(format!(
            "the request's reveal key has fingerprint {}, not {given}: nothing was sent",
            fingerprint(&reveal_key)
        )));
    }
    let enc =
        Encapsulated::from_bytes(&decode("link", &input.enc)?).map_err(|_| malformed("link"))?;
    let sender = KemPublicKey::from_bytes(&decode("sender key", &input.sender_key)?)
        .map_err(|_| malformed("sender key"))?;
    if !o.yes {
        confirm(&format!(
            "Send custodian {}'s partial decryption for request {}?",
            share.index().get(),
            o.id
        ))?;
    }
    let partial = threshold::partial(&share, &enc, &sender)
        .map_err(|e| Failure::refused(format!("partial decryption failed: {e}")))?;
    let sealed = seal_partial(&reveal_key, &o.id, &partial)
        .map_err(|e| Failure::refused(format!("sealing the partial failed: {e}")))?;
    let body = json!({"custodian": share.index().get(), "sealed": Base64::encode_string(&sealed)});
    let path = ["v1", "admin", "break-glass", &o.id, "partials"];
    show(api.post(&path, &body).await?, output, "Partial sent")
}

/// What opens the link, loaded before the server is asked: a wrong
/// passphrase must not use up the request.
enum Opener {
    Key(Zeroizing<Vec<u8>>),
    Custodians { custodians: Custodians, reveal_key: KemSecretKey },
}

fn opener(o: &RevealOpts) -> Result<Opener, Failure> {
    if let Some(key) = &o.key {
        let passphrase = o.passphrase_file.as_ref().map(read_passphrase).transpose()?;
        let raw = read_key_file(key, passphrase.as_ref().map(|p| p.as_str()))
            .map_err(|e| Failure::refused(e.to_string()))?;
        return Ok(Opener::Key(raw));
    }
    let (Some(record), Some(reveal_key)) = (&o.custodians, &o.reveal_key) else {
        return Err(Failure::usage("give --key, or --custodians with --reveal-key"));
    };
    let custodians = read_record(record)?
        .custodians()
        .map_err(|e| Failure::usage(format!("{}: {e}", record.display())))?;
    let raw = read_key_file(reveal_key, None).map_err(|e| Failure::usage(e.to_string()))?;
    let reveal_key = KemSecretKey::from_bytes(&raw)
        .map_err(|_| Failure::usage(format!("{} is not a reveal key", reveal_key.display())))?;
    Ok(Opener::Custodians { custodians, reveal_key })
}

/// The requester's step: release the link (once, audited) and open it here.
pub async fn reveal(o: RevealOpts, api: &Api, output: Output) -> Result<(), Failure> {
    let opener = opener(&o)?;
    if let Opener::Custodians { custodians, .. } = &opener {
        let list: RequestList = parse(api.get(&["v1", "admin", "break-glass"]).await?)?;
        let relayed = list.requests.iter().find(|r| r.request_id == o.id).map(|r| r.partials);
        let relayed =
            relayed.ok_or_else(|| Failure::refused("no break-glass request has this id"))?;
        if usize::try_from(relayed).unwrap_or(0) < custodians.threshold {
            return Err(Failure::refused(format!(
                "{relayed} of {} custodians' partials relayed so far; the reveal waits for \
                 them (nothing was used up)",
                custodians.threshold
            )));
        }
    }
    if !o.yes {
        confirm(&format!(
            "Reveal the account of request {}? This can be done once and is audited.",
            o.id
        ))?;
    }
    let path = ["v1", "admin", "break-glass", &o.id, "reveal"];
    let released: Released = parse(api.post(&path, &json!({})).await?)?;
    let suite = GlassSuite::parse(&released.suite)
        .ok_or_else(|| Failure::refused("the server sent an unknown link suite"))?;
    let sender = match &released.sender_key {
        Some(key) => Some(
            KemPublicKey::from_bytes(&decode("sender key", key)?)
                .map_err(|_| Failure::refused("the server sent a malformed sender key"))?,
        ),
        None => None,
    };
    let link = SealedLink {
        suite,
        sealed: decode("link", &released.sealed_link)?,
        aad: decode("link", &released.aad)?,
        sender,
    };
    let opened = match opener {
        Opener::Key(key) => glass_link::open_with_key(&key, &link),
        Opener::Custodians { custodians, reveal_key } => {
            let mut partials = Vec::with_capacity(released.partials.len());
            for p in &released.partials {
                let index = CustodianIndex::new(p.custodian)
                    .ok_or_else(|| Failure::refused("the server sent custodian 0"))?;
                let sealed = decode("partial", &p.sealed)?;
                partials.push(open_partial(&reveal_key, &o.id, index, &sealed).map_err(refusal)?);
            }
            glass_link::open_with_partials(&partials, &custodians, &link)
        }
    };
    let account = opened.map_err(refusal)?;
    if output.json {
        print_json(&json!({"request_id": o.id, "account": account.as_str()}));
    } else {
        println!("Request {}: the account is {}", o.id, account.as_str());
    }
    Ok(())
}

fn refusal(error: GlassError) -> Failure {
    Failure::refused(format!("the link was released but did not open: {error}"))
}
