//! The org's data key on this device. The first device to sync in an org (or in a new key
//! epoch, after someone who could hold the key left) makes it; every device registers its
//! public key as a recipient, and any device holding the key wraps it to the recipients that
//! lack it, each time it syncs. The service only ever holds wrapped copies, and takes the
//! first copy of an epoch only for its maker's own device, so two devices making a key at
//! once cannot split the org.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use scry_api::{NewRecipient, Recipient, Recipients, WrappedKey};
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use super::{SyncError, hex};
use crate::credentials::EnvKey;
use crate::sealing::{DeviceKey, OrgKey};
use crate::{Client, ErrorKind};

/// How this device came by the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// It had it, for the current epoch.
    Kept,
    /// Another device had wrapped it to this one.
    Received,
    /// Nobody held the current epoch's key: this device made it.
    Made,
}

/// The org's current data key for this device: registers the device as a recipient, takes
/// the key it kept (`kept`, if still current), else its wrapped copy, else makes it when
/// nobody holds one; then hands it on to every recipient that lacks it. Save the key when
/// the source is not `Kept`.
pub async fn settle(
    client: &Client,
    org: &str,
    device: &DeviceKey,
    label: &str,
    kept: Option<OrgKey>,
) -> Result<(OrgKey, Source), SyncError> {
    let listed = client.recipients(org).await?;
    let epoch = listed.epoch;
    let me = register(client, org, device, label, &listed).await?;
    let kept = kept.filter(|k| i64::from(k.epoch()) == epoch);
    let (key, source) = match (kept, client.wrapped_key(org, &me.id).await?) {
        (_, Some(wrapped)) => (open(device, &wrapped, epoch)?, Source::Received),
        (Some(key), None) => (key, Source::Kept),
        (None, None) if !listed.recipients.iter().any(|r| r.has_key) => {
            let epoch = u32::try_from(epoch)
                .map_err(|_| SyncError::Protocol(format!("key epoch {epoch} is out of range")))?;
            (OrgKey::generate(epoch), Source::Made)
        }
        (None, None) => return Err(SyncError::KeyPending(org.into())),
    };
    // This device's own copy first: for a key it made, that is what makes it the epoch's key.
    if !me.has_key {
        match put(client, org, &me, &key).await {
            Ok(_) => {}
            Err(SyncError::Service(e)) if e.kind() == ErrorKind::Conflict => {
                return Err(SyncError::KeyPending(org.into()));
            }
            Err(e) => return Err(e),
        }
    }
    hand_on(client, org, &key).await?;
    // A key made or kept here that another device's made first would split the org: the
    // copy the service holds for this device is the epoch's key.
    let key = match client.wrapped_key(org, &me.id).await? {
        Some(wrapped) => open(device, &wrapped, i64::from(key.epoch()))?,
        None => return Err(SyncError::KeyPending(org.into())),
    };
    Ok((key, source))
}

/// This device's recipient in the org, registered now if it was not.
async fn register(
    client: &Client,
    org: &str,
    device: &DeviceKey,
    label: &str,
    listed: &Recipients,
) -> Result<Recipient, SyncError> {
    let public = hex(device.public().as_bytes());
    if let Some(r) = listed.recipients.iter().find(|r| r.public_key == public) {
        return Ok(r.clone());
    }
    let new = NewRecipient {
        public_key: public,
        label: label.into(),
    };
    Ok(client.add_recipient(org, &new).await?)
}

/// Restores the org's key on this device from a recovery key (see
/// [`OrgKey::from_recovery`]), for when no device that held it is left: registers the
/// device and gives it its own copy, which the service takes because the key's check is the
/// epoch's; then hands it on to whoever waits for it.
pub async fn recover(
    client: &Client,
    org: &str,
    device: &DeviceKey,
    label: &str,
    key: &OrgKey,
) -> Result<(), SyncError> {
    let listed = client.recipients(org).await?;
    if listed.epoch != i64::from(key.epoch()) {
        return Err(SyncError::Conflict(format!(
            "this recovery key is of the org's key epoch {}, and the org is at epoch {} now: \
             its key was replaced since (a member or key left), and that key's recovery key \
             is needed",
            key.epoch(),
            listed.epoch
        )));
    }
    let me = register(client, org, device, label, &listed).await?;
    match put(client, org, &me, key).await {
        Ok(_) => {}
        Err(SyncError::Service(e)) if e.kind() == ErrorKind::Conflict => {
            return Err(SyncError::Conflict(
                "the service refused the key: it is not the org's current key".into(),
            ));
        }
        Err(e) => return Err(e),
    }
    match client.wrapped_key(org, &me.id).await? {
        Some(wrapped) if open(device, &wrapped, listed.epoch)?.check() == key.check() => {}
        _ => {
            return Err(SyncError::Conflict(
                "this device already holds another key for the org".into(),
            ));
        }
    }
    hand_on(client, org, key).await
}

/// Gives a new API key its own sync key, so that CI can sync with it alone: registers fresh
/// key material's public half as the key's recipient (acting as the key), and wraps the
/// org's key to it when `holder` has it at hand (else a holder's next sync does). The text to
/// hand to CI, shown once: the API key with its material (see [`EnvKey`]).
pub async fn provision(
    holder: &Client,
    org: &str,
    api_key: &str,
    name: &str,
    org_key: Option<&OrgKey>,
) -> Result<Zeroizing<String>, SyncError> {
    let device = DeviceKey::generate();
    let new = NewRecipient {
        public_key: hex(device.public().as_bytes()),
        label: format!("API key {name}"),
    };
    let recipient = holder.with_token(api_key).add_recipient(org, &new).await?;
    if let Some(key) = org_key {
        put(holder, org, &recipient, key).await?;
    }
    Ok(EnvKey::with_material(api_key, &device))
}

/// Wraps `key` to every recipient of the org that lacks the current epoch's copy.
async fn hand_on(client: &Client, org: &str, key: &OrgKey) -> Result<(), SyncError> {
    let listed = client.recipients(org).await?;
    if listed.epoch != i64::from(key.epoch()) {
        return Ok(());
    }
    for r in listed.recipients.iter().filter(|r| !r.has_key) {
        match put(client, org, r, key).await {
            Ok(_) => {}
            // Left meanwhile, or the epoch moved on: the next sync settles it.
            Err(SyncError::Service(e))
                if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn put(client: &Client, org: &str, to: &Recipient, key: &OrgKey) -> Result<bool, SyncError> {
    let public = parse_public(&to.public_key)?;
    let wrapped = WrappedKey {
        epoch: i64::from(key.epoch()),
        wrapped: BASE64.encode(key.wrap_for(&public)),
        check: key.check(),
    };
    Ok(client.put_wrapped_key(org, &to.id, &wrapped).await?)
}

fn open(device: &DeviceKey, wrapped: &WrappedKey, epoch: i64) -> Result<OrgKey, SyncError> {
    let bytes = BASE64
        .decode(&wrapped.wrapped)
        .map_err(|_| SyncError::Protocol("a wrapped key that is not base64".into()))?;
    let key = device
        .unwrap_key(&bytes)
        .map_err(|e| SyncError::Protocol(format!("the org's key wrapped to this device: {e}")))?;
    if i64::from(key.epoch()) != epoch || wrapped.epoch != epoch {
        return Err(SyncError::Protocol(format!(
            "a key of epoch {} came for epoch {epoch}",
            key.epoch()
        )));
    }
    if !wrapped.check.is_empty() && wrapped.check != key.check() {
        return Err(SyncError::Protocol(
            "the key wrapped to this device is not the one its check names".into(),
        ));
    }
    Ok(key)
}

fn parse_public(text: &str) -> Result<PublicKey, SyncError> {
    let bad = || SyncError::Protocol(format!("{text:?} is not a public key"));
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(PublicKey::from(bytes))
}

/// A name for this device that people recognise: its host name.
pub fn device_label() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().chars().take(100).collect::<String>())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this device".into())
}
