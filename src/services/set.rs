//! Every domain service of one running veil, assembled by `app` and shared by
//! all requests. It lives here, not in `api`, so the HTTP layer reaches the
//! store only through the services and never names a store type.

use std::sync::Arc;

use crate::core::clock::Clock;
use crate::services::abuse::Abuse;
use crate::services::access::Access;
use crate::services::breakglass::BreakGlass;
use crate::services::config::Config;
use crate::services::crl::Crl;
use crate::services::disclose::DisclosureIssuer;
use crate::services::keyring::KeySet;
use crate::services::mint::Minter;
use crate::services::status_lists::StatusLists;
use crate::services::verify::Verifier;
use crate::store::{Store, StoreError};

/// Everything a request handler may reach.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub keys: Arc<KeySet>,
    pub access: Access,
    pub minter: Minter,
    pub abuse: Abuse,
    pub break_glass: BreakGlass,
    pub disclosures: DisclosureIssuer,
    pub verifier: Verifier,
    pub status_lists: StatusLists,
    pub crl: Crl,
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Readiness: the database answers.
    pub async fn ping_database(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Open and idle database connections, for the metrics.
    pub fn pool_usage(&self) -> (u32, usize) {
        self.store.pool_usage()
    }
}
