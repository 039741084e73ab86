//! Where a signed-in device keeps its session token, one per server, and the data keys of the
//! organisations it syncs with: the OS credential store
//! (the Secret Service on Linux, the Keychain, the Windows Credential Manager) through
//! `keyring`; where there is none (a headless machine, an SSH session without a session bus),
//! a file in the user's config directory that only they can read. The CLI, the language server
//! and the desktop app read the same entry. Call these from blocking code: the store may make
//! D-Bus calls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::sealing::{DeviceKey, OrgKey};

/// The keyring's service name for sign-ins; the user name is the server's URL.
const SERVICE: &str = "scry";
/// The keyring's service name for org data keys; the user name is "server org".
const KEY_SERVICE: &str = "scry-org-key";
/// The keyring's service name for this device's sync key; the user name is the server's URL.
const DEVICE_SERVICE: &str = "scry-device-key";

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged ({message}); delete it and sign in again", path.display())]
    Damaged { path: PathBuf, message: String },
    #[error("no config directory to keep the sign-in in (is HOME set?)")]
    NoConfigDir,
}

/// Where a token was put or found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The OS credential store.
    Keyring,
    /// The fallback file; `why` says what kept the credential store from being used.
    File { path: PathBuf, why: String },
}

/// Stores `token` for `server`, replacing any earlier one: in the credential store when it
/// takes it, else in the fallback file (the caller should tell the user which, with `why`).
pub fn save(server: &str, token: &str) -> Result<Place, CredentialError> {
    put(&Slot::Session(normalise(server)), token)
}

/// The token stored for `server`, and where it was.
pub fn load(server: &str) -> Result<Option<(String, Place)>, CredentialError> {
    get(&Slot::Session(normalise(server)))
}

/// Forgets the token for `server` wherever it is; whether there was one.
pub fn delete(server: &str) -> Result<bool, CredentialError> {
    remove(&Slot::Session(normalise(server)))
}

/// What this device acts with on `server`: an org API key in `SCRY_API_KEY` (for CI and
/// scripts), else the stored sign-in's token; `None` when there is neither.
pub fn token_for(server: &str) -> Result<Option<String>, CredentialError> {
    if let Some(key) = EnvKey::from_env() {
        return Ok(Some(key.token));
    }
    Ok(load(server)?.map(|(token, _)| token))
}

/// An org API key as CI holds it (`SCRY_API_KEY`): the key the service knows, then, after a
/// `.`, the sync key material that `scry keys create` (or the desktop app) adds when it makes
/// the key. The material never reaches the service: it is the API key's device key for sync,
/// the same on every machine the key runs on, so each CI run opens the org key wrapped to it.
pub struct EnvKey {
    /// What the service authenticates.
    pub token: String,
    material: Option<Zeroizing<[u8; 32]>>,
}

impl EnvKey {
    /// `SCRY_API_KEY`, if set.
    pub fn from_env() -> Option<EnvKey> {
        let text = std::env::var("SCRY_API_KEY").ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| EnvKey::parse(text))
    }

    pub fn parse(text: &str) -> EnvKey {
        let material = text.rsplit_once('.').and_then(|(token, hex)| {
            let bytes = <[u8; 32]>::try_from(unhex(hex)?).ok()?;
            Some((token, Zeroizing::new(bytes)))
        });
        match material {
            Some((token, material)) => EnvKey {
                token: token.into(),
                material: Some(material),
            },
            None => EnvKey {
                token: text.into(),
                material: None,
            },
        }
    }

    /// The text to hand to CI: `token` with `device`'s secret appended.
    pub fn with_material(token: &str, device: &DeviceKey) -> Zeroizing<String> {
        let hex: Zeroizing<String> = Zeroizing::new(
            device
                .to_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        );
        Zeroizing::new(format!("{token}.{}", *hex))
    }

    /// Whether the key carries its own material. Without it (a key made over plain HTTP), the
    /// device key is derived from the API key itself: as stable, but the service saw that
    /// secret once, when it made the key.
    pub fn has_material(&self) -> bool {
        self.material.is_some()
    }

    /// The API key's device key for sync.
    pub fn device_key(&self) -> DeviceKey {
        match &self.material {
            Some(material) => DeviceKey::from_bytes(**material),
            None => DeviceKey::from_bytes(blake3::derive_key(
                "scry 2026-12 api key device key",
                self.token.as_bytes(),
            )),
        }
    }
}

/// Keeps an organisation's data key (see [`crate::sealing`]) beside the sign-in, the same way.
pub fn save_org_key(server: &str, org: &str, key: &OrgKey) -> Result<Place, CredentialError> {
    let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    put(&Slot::OrgKey(normalise(server), org.into()), &hex)
}

/// The organisation's data key kept on this device, and where it was.
pub fn load_org_key(server: &str, org: &str) -> Result<Option<(OrgKey, Place)>, CredentialError> {
    let Some((hex, place)) = get(&Slot::OrgKey(normalise(server), org.into()))? else {
        return Ok(None);
    };
    let damaged = || CredentialError::Damaged {
        path: PathBuf::from(format!("the credential store's entry for {org}'s key")),
        message: "not a key".into(),
    };
    let bytes = unhex(&hex).ok_or_else(damaged)?;
    let key = OrgKey::from_bytes(&bytes).ok_or_else(damaged)?;
    Ok(Some((key, place)))
}

/// This device's key pair for sync on `server` (made on first use): the public half is
/// registered with each org it syncs with, so that the org's data key can be wrapped to it.
pub fn device_key(server: &str) -> Result<(DeviceKey, Place), CredentialError> {
    let slot = Slot::Device(normalise(server));
    if let Some((hex, place)) = get(&slot)? {
        let bytes = unhex(&hex).and_then(|b| <[u8; 32]>::try_from(b).ok());
        if let Some(bytes) = bytes {
            return Ok((DeviceKey::from_bytes(bytes), place));
        }
        tracing::warn!("this device's sync key was unreadable; a new one is made");
    }
    let key = DeviceKey::generate();
    let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let place = put(&slot, &hex)?;
    Ok((key, place))
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// What is kept: a session token per server, a data key per server and organisation, a
/// device key per server.
enum Slot {
    Session(String),
    OrgKey(String, String),
    Device(String),
}

impl Slot {
    /// The keyring's service and user names.
    fn entry(&self) -> keyring::Result<keyring::Entry> {
        match self {
            Slot::Session(server) => keyring::Entry::new(SERVICE, server),
            Slot::OrgKey(server, org) => {
                keyring::Entry::new(KEY_SERVICE, &format!("{server} {org}"))
            }
            Slot::Device(server) => keyring::Entry::new(DEVICE_SERVICE, server),
        }
    }

    /// Its map and name in the fallback file.
    fn in_file<'f>(&self, file: &'f mut File) -> (&'f mut BTreeMap<String, String>, String) {
        match self {
            Slot::Session(server) => (&mut file.sessions, server.clone()),
            Slot::OrgKey(server, org) => (&mut file.org_keys, format!("{server} {org}")),
            Slot::Device(server) => (&mut file.device_keys, server.clone()),
        }
    }
}

fn put(slot: &Slot, secret: &str) -> Result<Place, CredentialError> {
    let why = match slot
        .entry()
        .and_then(|e| e.set_password(secret).map(|()| e))
    {
        Ok(_) => {
            // One kept from before, in the file while there was no credential store, must
            // not outlive this one; a damaged file must not undo what worked (the keyring's
            // entry is read first).
            if let Err(err) = remove_from_file(slot) {
                tracing::warn!("the old credentials file stays: {err}");
            }
            return Ok(Place::Keyring);
        }
        Err(err) => describe(&err),
    };
    let path = file_path()?;
    let mut file = read_file(&path)?;
    let (map, name) = slot.in_file(&mut file);
    map.insert(name, secret.into());
    write_file(&path, &file)?;
    Ok(Place::File { path, why })
}

fn get(slot: &Slot) -> Result<Option<(String, Place)>, CredentialError> {
    let why = match slot.entry().and_then(|e| e.get_password()) {
        Ok(secret) => return Ok(Some((secret, Place::Keyring))),
        Err(err) => describe(&err),
    };
    let path = file_path()?;
    let mut file = read_file(&path)?;
    let (map, name) = slot.in_file(&mut file);
    Ok(map.remove(&name).map(|s| (s, Place::File { path, why })))
}

fn remove(slot: &Slot) -> Result<bool, CredentialError> {
    let in_keyring = slot.entry().and_then(|e| e.delete_credential()).is_ok();
    let in_file = remove_from_file(slot)?;
    Ok(in_keyring || in_file)
}

/// One spelling per server: no trailing slash.
fn normalise(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

fn describe(err: &keyring::Error) -> String {
    match err {
        keyring::Error::NoEntry => "no entry in the credential store".into(),
        keyring::Error::NoDefaultStore => {
            "no credential store (no Secret Service on the session bus)".into()
        }
        other => format!("the credential store failed: {other}"),
    }
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    /// Server URL → session token.
    sessions: BTreeMap<String, String>,
    /// "server org" → the organisation's data key, hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    org_keys: BTreeMap<String, String>,
    /// Server URL → this device's sync key, hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    device_keys: BTreeMap<String, String>,
}

/// `$XDG_CONFIG_HOME/scry/credentials.json`.
pub fn file_path() -> Result<PathBuf, CredentialError> {
    dirs::config_dir()
        .map(|d| d.join("scry").join("credentials.json"))
        .ok_or(CredentialError::NoConfigDir)
}

fn read_file(path: &Path) -> Result<File, CredentialError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialError::Damaged {
            path: path.into(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(source) => Err(CredentialError::Io {
            path: path.into(),
            source,
        }),
    }
}

fn remove_from_file(slot: &Slot) -> Result<bool, CredentialError> {
    let path = file_path()?;
    let mut file = read_file(&path)?;
    let (map, name) = slot.in_file(&mut file);
    if map.remove(&name).is_none() {
        return Ok(false);
    }
    write_file(&path, &file)?;
    Ok(true)
}

/// Writes the whole file anew, readable by its owner only, replacing the old one at once.
fn write_file(path: &Path, file: &File) -> Result<(), CredentialError> {
    let io = |source| CredentialError::Io {
        path: path.into(),
        source,
    };
    let dir = path.parent().expect("a file in a directory");
    create_private_dir(dir).map_err(io)?;
    let temporary = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(file).expect("a map of strings serialises");
    write_private(&temporary, &bytes).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
