//! The issuance policy, `policies/issuance.toml`: how fast pseudonyms may be
//! created (per account, per API client, globally) and the reputation an
//! account needs. Loaded and validated once at startup; a missing file means
//! the built-in defaults, which are the ones the shipped file documents.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// File name inside the policies directory.
pub const FILE_NAME: &str = "issuance.toml";

/// Highest accepted `admin.privacy_reads_per_hour`.
const MAX_PRIVACY_READS_PER_HOUR: i64 = 1000;

/// A policy refused, naming the file and the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IssuancePolicyError {
    #[error("issuance policy {file}: cannot read it: {message}")]
    Read { file: String, message: String },
    #[error("issuance policy {file}: {message}")]
    Parse { file: String, message: String },
    #[error("issuance policy {file}: field `{field}`: {message}")]
    Invalid { file: String, field: &'static str, message: String },
}

/// The whole policy; every section and field has a default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuancePolicy {
    pub account: AccountLimits,
    pub client: ClientLimits,
    pub global: GlobalLimits,
    pub reputation: ReputationPolicy,
    pub claims: ClaimsPolicy,
    pub admin: AdminLimits,
}

/// Limits per admin API client on reads that tie a pseudonym to an
/// account's standing: each is audited, and the limit keeps one admin from
/// comparing pseudonyms in bulk.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminLimits {
    /// `POST /v1/admin/accounts/status` calls per clock hour.
    pub privacy_reads_per_hour: i64,
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self { privacy_reads_per_hour: 30 }
    }
}

/// Which claims a disclosure may carry beyond the built-in identity claims
/// (`issuance::claims`). Unknown claims are refused unless listed here.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimsPolicy {
    /// Extra text claims (e.g. `department`), bounded like the built-in ones.
    pub extra: Vec<String>,
}

/// Limits per account (counted per `account_ref`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountLimits {
    pub pseudonyms_per_hour: i64,
    pub pseudonyms_per_day: i64,
    /// Pseudonyms neither revoked nor expired.
    pub max_active: i64,
    /// Further clients (devices) of one pseudonym neither revoked nor
    /// expired, besides the pseudonym's own key.
    pub max_clients_per_pseudonym: i64,
    /// Whether an account id deleted by a `delete` remedy may come back as a
    /// new account (default: no, its keyed tombstone refuses the mint).
    pub deleted_may_return: bool,
}

/// Limits per API client. A provider's backend is one client carrying all
/// its users, so these must sit far above the per-account limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientLimits {
    /// Sustained mint requests per second (token refill rate).
    pub requests_per_second: i64,
    /// Requests a client may make at once after being idle (bucket size).
    pub burst: i64,
}

/// Limits over the whole service, across all replicas.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalLimits {
    pub pseudonyms_per_minute: i64,
}

/// Reputation: a score per account from weighted events that decay.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReputationPolicy {
    /// Score of an account with no events.
    pub initial: i64,
    /// Score an account needs to mint pseudonyms.
    pub min_to_mint: i64,
    /// Score an account needs to be issued a disclosure.
    pub min_to_disclose: i64,
    /// Time after which an event counts half as much.
    pub half_life_hours: i64,
    pub weights: Weights,
    pub reports: ReportPolicy,
}

/// Points each event adds (negative: takes away).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    /// Per unit of capped report weight (see [`ReportPolicy`]).
    pub abuse_report: i64,
    pub remedy_applied: i64,
    /// Per unit of report weight on the account when a remedy upholds the
    /// reports (on top of what each report cost when it arrived).
    pub report_upheld: i64,
    /// Per pseudonym minted (decays): negative makes rapid minting cost
    /// standing; 0 writes no event at all.
    pub pseudonym_minted: i64,
    /// Backend signal: the account has a verified phone number (no decay).
    pub verified_phone: i64,
    /// Backend signal: per full year of account age (no decay).
    pub account_age_per_year: i64,
    /// Cap on the account-age signal.
    pub account_age_max: i64,
}

/// How abuse reports accumulate on an account. Each reporter (the hub's API
/// client) adds `weight_per_report` per report, up to `max_weight_per_reporter`,
/// so one reporter alone can never reach `auto_suspend_weight` when the cap
/// is below it — validation enforces that.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportPolicy {
    pub weight_per_report: i64,
    pub max_weight_per_reporter: i64,
    /// Summed capped weight at which the account is suspended automatically.
    pub auto_suspend_weight: i64,
    /// Distinct reporters needed as well.
    pub auto_suspend_min_reporters: i64,
    /// Whether hubs (not only admins) may apply remedies.
    pub hub_may_remedy: bool,
    /// Reports one reporter may send per clock hour, known pseudonyms or
    /// not (so the quota says nothing about which exist); then 429.
    pub max_per_reporter_per_hour: i64,
}

impl Default for AccountLimits {
    fn default() -> Self {
        Self {
            pseudonyms_per_hour: 20,
            pseudonyms_per_day: 100,
            max_active: 500,
            max_clients_per_pseudonym: 8,
            deleted_may_return: false,
        }
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self { requests_per_second: 500, burst: 2000 }
    }
}

impl Default for GlobalLimits {
    fn default() -> Self {
        Self { pseudonyms_per_minute: 60_000 }
    }
}

impl Default for ReputationPolicy {
    fn default() -> Self {
        Self {
            initial: 100,
            min_to_mint: 0,
            min_to_disclose: 50,
            half_life_hours: 24 * 14,
            weights: Weights::default(),
            reports: ReportPolicy::default(),
        }
    }
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            abuse_report: -10,
            remedy_applied: -100,
            report_upheld: -20,
            pseudonym_minted: 0,
            verified_phone: 20,
            account_age_per_year: 10,
            account_age_max: 50,
        }
    }
}

impl Default for ReportPolicy {
    fn default() -> Self {
        Self {
            weight_per_report: 1,
            max_weight_per_reporter: 2,
            auto_suspend_weight: 5,
            auto_suspend_min_reporters: 3,
            hub_may_remedy: false,
            max_per_reporter_per_hour: 1000,
        }
    }
}

impl IssuancePolicy {
    /// Loads `<dir>/issuance.toml`, or the defaults when there is none.
    pub fn load_dir(dir: &Path) -> Result<Self, IssuancePolicyError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(Self::default());
        }
        check_file(&path)
    }

    /// Parses and validates a policy; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self, IssuancePolicyError> {
        let policy: Self = toml::from_str(text).map_err(|e| IssuancePolicyError::Parse {
            file: source.into(),
            message: e.to_string(),
        })?;
        policy.validate(source)?;
        Ok(policy)
    }

    fn validate(&self, file: &str) -> Result<(), IssuancePolicyError> {
        let invalid = |field: &'static str, message: String| IssuancePolicyError::Invalid {
            file: file.into(),
            field,
            message,
        };
        let positive = [
            ("account.pseudonyms_per_hour", self.account.pseudonyms_per_hour),
            ("account.pseudonyms_per_day", self.account.pseudonyms_per_day),
            ("account.max_active", self.account.max_active),
            ("account.max_clients_per_pseudonym", self.account.max_clients_per_pseudonym),
            ("client.requests_per_second", self.client.requests_per_second),
            ("client.burst", self.client.burst),
            ("global.pseudonyms_per_minute", self.global.pseudonyms_per_minute),
            ("admin.privacy_reads_per_hour", self.admin.privacy_reads_per_hour),
            ("reputation.half_life_hours", self.reputation.half_life_hours),
            ("reputation.reports.weight_per_report", self.reputation.reports.weight_per_report),
            (
                "reputation.reports.max_weight_per_reporter",
                self.reputation.reports.max_weight_per_reporter,
            ),
            ("reputation.reports.auto_suspend_weight", self.reputation.reports.auto_suspend_weight),
            (
                "reputation.reports.auto_suspend_min_reporters",
                self.reputation.reports.auto_suspend_min_reporters,
            ),
            (
                "reputation.reports.max_per_reporter_per_hour",
                self.reputation.reports.max_per_reporter_per_hour,
            ),
        ];
        for (field, value) in positive {
            if !(1..=1_000_000_000).contains(&value) {
                return Err(invalid(field, format!("must be 1 to 1000000000, not {value}")));
            }
        }
        if self.admin.privacy_reads_per_hour > MAX_PRIVACY_READS_PER_HOUR {
            return Err(invalid(
                "admin.privacy_reads_per_hour",
                format!(
                    "must be at most {MAX_PRIVACY_READS_PER_HOUR}: a higher budget no longer \
                     keeps one admin from comparing pseudonyms in bulk"
                ),
            ));
        }
        if self.account.pseudonyms_per_day < self.account.pseudonyms_per_hour {
            return Err(invalid(
                "account.pseudonyms_per_day",
                "must not be below account.pseudonyms_per_hour".into(),
            ));
        }
        if self.client.burst < self.client.requests_per_second {
            return Err(invalid(
                "client.burst",
                "must not be below client.requests_per_second".into(),
            ));
        }
        // One backend carries every user: its client limit must not bind
        // before one user's hourly limit does.
        if self.client.burst < self.account.pseudonyms_per_hour {
            return Err(invalid(
                "client.burst",
                "must be at least account.pseudonyms_per_hour (a backend carries all its users)"
                    .into(),
            ));
        }
        if self.global.pseudonyms_per_minute < self.account.pseudonyms_per_hour {
            return Err(invalid(
                "global.pseudonyms_per_minute",
                "must be at least account.pseudonyms_per_hour".into(),
            ));
        }
        let reports = &self.reputation.reports;
        if reports.max_weight_per_reporter >= reports.auto_suspend_weight {
            return Err(invalid(
                "reputation.reports.max_weight_per_reporter",
                "must be below auto_suspend_weight, or one reporter alone could suspend an account"
                    .into(),
            ));
        }
        if reports.auto_suspend_min_reporters < 2 {
            return Err(invalid(
                "reputation.reports.auto_suspend_min_reporters",
                "must be at least 2: one reporter alone must not trigger a remedy".into(),
            ));
        }
        let scores = [
            ("reputation.initial", self.reputation.initial),
            ("reputation.min_to_mint", self.reputation.min_to_mint),
            ("reputation.min_to_disclose", self.reputation.min_to_disclose),
            ("reputation.weights.abuse_report", self.reputation.weights.abuse_report),
            ("reputation.weights.remedy_applied", self.reputation.weights.remedy_applied),
            ("reputation.weights.report_upheld", self.reputation.weights.report_upheld),
            ("reputation.weights.pseudonym_minted", self.reputation.weights.pseudonym_minted),
            ("reputation.weights.verified_phone", self.reputation.weights.verified_phone),
            (
                "reputation.weights.account_age_per_year",
                self.reputation.weights.account_age_per_year,
            ),
            ("reputation.weights.account_age_max", self.reputation.weights.account_age_max),
        ];
        for (field, value) in scores {
            if !(-1_000_000..=1_000_000).contains(&value) {
                return Err(invalid(field, format!("must be -1000000 to 1000000, not {value}")));
            }
        }
        for name in &self.claims.extra {
            if let Err(message) = crate::formats::claims::check_extra_name(name) {
                return Err(invalid("claims.extra", format!("`{name}` {message}")));
            }
        }
        if self.reputation.initial < self.reputation.min_to_mint {
            return Err(invalid(
                "reputation.min_to_mint",
                "must not exceed reputation.initial, or no new account could mint".into(),
            ));
        }
        Ok(())
    }
}

/// Reads and validates one policy file: what `veilctl policy check` calls
/// (the result serializes to JSON for `--json` output).
pub fn check_file(path: &Path) -> Result<IssuancePolicy, IssuancePolicyError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| IssuancePolicyError::Read { file: file.clone(), message: e.to_string() })?;
    IssuancePolicy::from_toml(&text, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_is_valid_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies").join(FILE_NAME);
        assert_eq!(check_file(&path).unwrap(), IssuancePolicy::default());
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let err = IssuancePolicy::from_toml("[account]\npseudonyms_per_hour = 0\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("account.pseudonyms_per_hour"), "{err}");
        let err = IssuancePolicy::from_toml("[account]\nper_hour = 3\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("per_hour"), "{err}");
        let err = IssuancePolicy::from_toml(
            "[reputation.reports]\nmax_weight_per_reporter = 9\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_weight_per_reporter"), "{err}");
        let err = IssuancePolicy::from_toml("[client]\nburst = 10\nrequests_per_second = 5\n", "y")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client.burst"), "{err}");
        for reads in [0, 1001] {
            let text = format!("[admin]\nprivacy_reads_per_hour = {reads}\n");
            let err = IssuancePolicy::from_toml(&text, "z").unwrap_err().to_string();
            assert!(err.contains("admin.privacy_reads_per_hour"), "{err}");
        }
    }

    #[test]
    fn a_missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(IssuancePolicy::load_dir(dir.path()).unwrap(), IssuancePolicy::default());
    }
}
