//! A stand-in for the target provider's `POST /keyMaterial/{targetUser}`
//! (draft-ietf-mimi-protocol §5.2), as far as consent goes. The target's
//! clients publish KeyPackages, some carrying the connection-only
//! extension, which the provider reads off each package. A requester the
//! target consented to only for one connection (bootstrap or knock) room,
//! named by its room id, gets connection-only packages, and only for that
//! room; a requester with full consent gets ordinary ones. Each package is
//! handed out once ("Keying material provided from one response MUST NOT be
//! provided in any other response").

use std::collections::{BTreeMap, BTreeSet};

use veil::formats::mls::ConnectionOnlyExtension;

use super::mls::validate_key_package;

/// The `KeyMaterialUserCode` / `KeyMaterialClientCode` of a refusal.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    NoConsent,
    NoConsentForThisRoom,
    KeyMaterialExhausted,
}

/// One target provider's published KeyPackages and its users' consents.
#[derive(Default)]
pub struct KeyMaterial {
    /// Per target user: packages without the extension.
    ordinary: BTreeMap<String, Vec<Vec<u8>>>,
    /// Per target user: packages carrying the connection-only extension.
    connection_only: BTreeMap<String, Vec<Vec<u8>>>,
    /// (requester, target, room): consent to connect in that room only.
    room_consent: BTreeSet<(String, String, String)>,
    /// (requester, target): consent for any room.
    consent: BTreeSet<(String, String)>,
}

impl KeyMaterial {
    /// A client of `target` uploads a KeyPackage; the provider files it by
    /// the connection-only extension it carries.
    pub fn publish(&mut self, target: &str, package: Vec<u8>) {
        let validated = validate_key_package(&package);
        let stock = match ConnectionOnlyExtension::of(validated.extensions()) {
            ConnectionOnlyExtension::Absent => &mut self.ordinary,
            _ => &mut self.connection_only,
        };
        stock.entry(target.into()).or_default().push(package);
    }

    /// `target` lets `requester` reach them in `room` only (a connection).
    pub fn consent_to_connection(&mut self, requester: &str, target: &str, room: &str) {
        self.room_consent.insert((requester.into(), target.into(), room.into()));
    }

    /// `target` lets `requester` add them to any room.
    pub fn consent(&mut self, requester: &str, target: &str) {
        self.consent.insert((requester.into(), target.into()));
    }

    /// `POST /keyMaterial/{target}` with `requestingUser` and `roomId`:
    /// one KeyPackage of `target`'s, or why not.
    pub fn request(
        &mut self,
        requester: &str,
        target: &str,
        room: &str,
    ) -> Result<Vec<u8>, Refused> {
        let scoped = (requester.to_string(), target.to_string(), room.to_string());
        let stock = if self.room_consent.contains(&scoped) {
            &mut self.connection_only
        } else if self.consent.contains(&(requester.into(), target.into())) {
            &mut self.ordinary
        } else if self.room_consent.iter().any(|(r, t, _)| r == requester && t == target) {
            return Err(Refused::NoConsentForThisRoom);
        } else {
            return Err(Refused::NoConsent);
        };
        stock.get_mut(target).and_then(Vec::pop).ok_or(Refused::KeyMaterialExhausted)
    }
}
