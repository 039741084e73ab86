//! End-to-end encryption of what sync uploads: the account service stores ids and ciphertext
//! only. Vectors leak code (they can be inverted, and the model ships in every binary), so a
//! chunk's vector is sealed like its path and text.
//!
//! - An organisation's data key ([`OrgKey`]) is made on a client and never leaves clients in
//!   the clear. Its epoch grows when it is rotated (a member removed).
//! - Subkeys come from it by BLAKE3 `derive_key`: one keys object ids, one seals objects.
//! - An object's id ([`OrgKey::object_id`]) is a keyed hash of the model id and its plaintext:
//!   equal content in one org has one id (so uploads are deduplicated), a model change makes
//!   new ids, and the service cannot test a guess without the key.
//! - A sealed object is XChaCha20-Poly1305 under the seal key with a random nonce, its id and
//!   epoch bound in as associated data: a ciphertext moved to another id, org or epoch does not
//!   open.
//! - Each member's device has an X25519 key ([`DeviceKey`]); the org key is wrapped to its
//!   public half ([`OrgKey::wrap_for`]): an ephemeral X25519 exchange, a key derived from the
//!   shared secret and both public keys, XChaCha20-Poly1305.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Bumped if the layout of sealed bytes ever changes.
const FORMAT: u8 = 1;
const NONCE: usize = 24;
const IDS_CONTEXT: &str = "scry 2026-12 sync object ids";
const SEAL_CONTEXT: &str = "scry 2026-12 sync object sealing";
const WRAP_CONTEXT: &str = "scry 2026-12 org key wrapping";
const CHECK_CONTEXT: &str = "scry 2026-12 org key check";
/// Crockford's base32: no I, L, O or U to misread.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The bytes were changed, belong to another id or org, or were sealed under another key.
    #[error("sealed data does not open with this key (tampered, or another org's or epoch's)")]
    DoesNotOpen,
    #[error("sealed data of an unknown format {0}: a newer Scry made it")]
    UnknownFormat(u8),
    #[error("sealed data is truncated")]
    Truncated,
}

/// An organisation's data key at one epoch.
pub struct OrgKey {
    secret: Zeroizing<[u8; 32]>,
    epoch: u32,
}

/// A 32-byte object id, keyed by the org: what the service sees of an object's identity.
pub type ObjectId = [u8; 32];

impl OrgKey {
    /// A new random key (the first client to sync in an org makes it; rotation makes the next
    /// epoch's).
    pub fn generate(epoch: u32) -> OrgKey {
        OrgKey {
            secret: Zeroizing::new(rand::random()),
            epoch,
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The secret and epoch, to keep in the device's credential store.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 36]> {
        let mut bytes = Zeroizing::new([0u8; 36]);
        bytes[..32].copy_from_slice(self.secret.as_ref());
        bytes[32..].copy_from_slice(&self.epoch.to_le_bytes());
        bytes
    }

    /// What [`OrgKey::to_bytes`] made; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<OrgKey> {
        let bytes: &[u8; 36] = bytes.try_into().ok()?;
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&bytes[..32]);
        let epoch = u32::from_le_bytes(bytes[32..].try_into().expect("4 bytes"));
        Some(OrgKey { secret, epoch })
    }

    /// A short fingerprint people can compare (in the desktop app) to check they hold the
    /// same key, telling nothing of it.
    pub fn fingerprint(&self) -> String {
        let hash = blake3::derive_key("scry 2026-12 org key fingerprint", self.secret.as_ref());
        hash[..10]
            .chunks(2)
            .map(|pair| format!("{:02x}{:02x}", pair[0], pair[1]))
            .collect::<Vec<_>>()
            .join("-")
    }

    /// What the service keeps to tell this key from another (32 hex digits): every wrapped
    /// copy of an epoch carries it. A one-way hash: it tells nothing of the key.
    pub fn check(&self) -> String {
        let hash = blake3::derive_key(CHECK_CONTEXT, self.secret.as_ref());
        hash[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key as a person writes it down to restore it on a new device when every device
    /// that held it is gone: `SCRY-` then Crockford base32 of the key, its epoch and a
    /// two-byte checksum, in groups of five.
    pub fn to_recovery(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(self.to_bytes().to_vec());
        let sum = blake3::hash(&bytes);
        bytes.extend_from_slice(&sum.as_bytes()[..2]);
        let digits = Zeroizing::new(base32(&bytes));
        let groups: Vec<&str> = digits
            .as_bytes()
            .chunks(5)
            .map(|g| std::str::from_utf8(g).expect("ascii"))
            .collect();
        Zeroizing::new(format!("SCRY-{}", groups.join("-")))
    }

    /// What [`OrgKey::to_recovery`] wrote, read back as people retype it (any case, dashes and
    /// spaces anywhere, O for 0, I and L for 1); `None` for a typo.
    pub fn from_recovery(text: &str) -> Option<OrgKey> {
        let text = text.trim();
        // The prefix, then a dash or a space (a group of digits is five long).
        let prefixed = text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("scry"))
            && matches!(text.as_bytes().get(4), Some(b'-' | b' '));
        let body = if prefixed { &text[4..] } else { text };
        let bytes = Zeroizing::new(unbase32(body)?);
        let (key, sum) = bytes.split_at_checked(36)?;
        (sum.len() == 2 && blake3::hash(key).as_bytes()[..2] == *sum)
            .then(|| OrgKey::from_bytes(key))?
    }

    /// The id of an object of `model_id` with these plaintext bytes.
    pub fn object_id(&self, model_id: &str, plaintext: &[u8]) -> ObjectId {
        let key = blake3::derive_key(IDS_CONTEXT, self.secret.as_ref());
        let mut hasher = blake3::Hasher::new_keyed(&key);
        hasher.update(&(model_id.len() as u64).to_le_bytes());
        hasher.update(model_id.as_bytes());
        hasher.update(plaintext);
        *hasher.finalize().as_bytes()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key = Zeroizing::new(blake3::derive_key(SEAL_CONTEXT, self.secret.as_ref()));
        XChaCha20Poly1305::new(key.as_ref().into())
    }

    /// How long [`OrgKey::seal`] makes a plaintext of `len` bytes: format, epoch, nonce, tag.
    pub fn sealed_len(len: usize) -> usize {
        1 + 4 + NONCE + len + 16
    }

    /// Seals an object's plaintext under its id.
    pub fn seal(&self, id: &ObjectId, plaintext: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        let aad = associated(id, self.epoch);
        let sealed = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a client makes");
        let mut out = Vec::with_capacity(1 + 4 + NONCE + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`OrgKey::seal`] made for `id`.
    pub fn open(&self, id: &ObjectId, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let (epoch, nonce, ciphertext) = parts::<4>(sealed)?;
        let epoch = u32::from_le_bytes(epoch);
        if epoch != self.epoch {
            return Err(SealError::DoesNotOpen);
        }
        let aad = associated(id, epoch);
        self.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen)
    }

    /// The key wrapped to one device: only that device's secret opens it.
    pub fn wrap_for(&self, device: &PublicKey) -> Vec<u8> {
        let ephemeral = StaticSecret::from(rand::random::<[u8; 32]>());
        let ephemeral_public = PublicKey::from(&ephemeral);
        let cipher = wrapping_cipher(&ephemeral.diffie_hellman(device), &ephemeral_public, device);
        let plaintext = self.to_bytes();
        let nonce: [u8; NONCE] = rand::random();
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_ref())
            .expect("36 bytes seal");
        [&[FORMAT][..], ephemeral_public.as_bytes(), &nonce, &sealed].concat()
    }
}

/// A device's key pair: the secret stays in the device's credential store; the public half is
/// registered with the account so that members can wrap the org key to it.
pub struct DeviceKey {
    secret: StaticSecret,
}

impl DeviceKey {
    pub fn generate() -> DeviceKey {
        DeviceKey {
            secret: StaticSecret::from(rand::random::<[u8; 32]>()),
        }
    }

    pub fn from_bytes(bytes: [u8; 32]) -> DeviceKey {
        DeviceKey {
            secret: StaticSecret::from(bytes),
        }
    }

    /// The secret, to keep in the credential store.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::from(&self.secret)
    }

    /// Opens an org key wrapped to this device.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<OrgKey, SealError> {
        let (ephemeral, nonce, sealed) = parts::<32>(wrapped)?;
        let ephemeral = PublicKey::from(ephemeral);
        let cipher = wrapping_cipher(
            &self.secret.diffie_hellman(&ephemeral),
            &ephemeral,
            &self.public(),
        );
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(XNonce::from_slice(nonce), sealed)
                .map_err(|_| SealError::DoesNotOpen)?,
        );
        OrgKey::from_bytes(&plaintext).ok_or(SealError::Truncated)
    }
}

fn base32(bytes: &[u8]) -> String {
    let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0);
    for &b in bytes {
        acc = ((acc << 8) | u32::from(b)) & 0xffff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in text.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        let value = BASE32.iter().position(|&d| d as char == c)? as u32;
        acc = ((acc << 5) | value) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // What is left is the last digit's padding: fewer than five bits, all zero.
    (bits < 5 && acc & ((1 << bits) - 1) == 0).then_some(out)
}

type Parts<'a, const H: usize> = ([u8; H], &'a [u8], &'a [u8]);

/// The parts of sealed bytes: the format byte (checked), a header of `H` bytes, the nonce and
/// the ciphertext.
fn parts<const H: usize>(bytes: &[u8]) -> Result<Parts<'_, H>, SealError> {
    let (&format, rest) = bytes.split_first().ok_or(SealError::Truncated)?;
    if format != FORMAT {
        return Err(SealError::UnknownFormat(format));
    }
    if rest.len() < H + NONCE {
        return Err(SealError::Truncated);
    }
    let (header, rest) = rest.split_at(H);
    let (nonce, ciphertext) = rest.split_at(NONCE);
    Ok((header.try_into().expect("H bytes"), nonce, ciphertext))
}

fn associated(id: &ObjectId, epoch: u32) -> [u8; 36] {
    let mut aad = [0u8; 36];
    aad[..32].copy_from_slice(id);
    aad[32..].copy_from_slice(&epoch.to_le_bytes());
    aad
}

/// The cipher of one wrapping: its key derived from the exchange and both public keys, so a
/// wrapped key cannot be replayed to another device.
fn wrapping_cipher(
    shared: &x25519_dalek::SharedSecret,
    ephemeral: &PublicKey,
    device: &PublicKey,
) -> XChaCha20Poly1305 {
    let material = Zeroizing::new(
        [
            &shared.as_bytes()[..],
            ephemeral.as_bytes(),
            device.as_bytes(),
        ]
        .concat(),
    );
    let key = Zeroizing::new(blake3::derive_key(WRAP_CONTEXT, &material));
    XChaCha20Poly1305::new(key.as_ref().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_key_reads_back_as_people_retype_it_and_refuses_typos() {
        let key = OrgKey::generate(3);
        let text = key.to_recovery();
        assert!(text.starts_with("SCRY-"), "{}", *text);
        assert!(!text.contains(['I', 'L', 'O', 'U']), "{}", *text);
        let same = |t: &str| {
            OrgKey::from_recovery(t).map(|k| (k.to_bytes().to_vec(), k.epoch(), k.check()))
        };
        let want = Some((key.to_bytes().to_vec(), 3, key.check()));
        assert_eq!(same(&text), want);
        let retyped = text.to_lowercase().replace('-', " ").replace('0', "o");
        assert_eq!(same(&retyped), want);
        assert_eq!(same(&text.replace("SCRY-", "")), want);
        // One digit changed, one dropped, a stray letter: refused.
        let digits: Vec<char> = text[5..].chars().collect();
        let at = digits
            .iter()
            .position(|c| c.is_ascii_alphanumeric())
            .unwrap();
        let mut typo = digits.clone();
        typo[at] = if typo[at] == '7' { '8' } else { '7' };
        assert_eq!(same(&typo.iter().collect::<String>()), None);
        assert_eq!(same(&text[..text.len() - 1]), None);
        assert_eq!(same(&format!("{}U", *text)), None);
        // The check tells keys apart, not what they are.
        assert_eq!(key.check().len(), 32);
        assert_ne!(key.check(), OrgKey::generate(3).check());
    }

    #[test]
    fn what_is_sealed_opens_only_under_its_id_key_and_epoch() {
        let key = OrgKey::generate(1);
        let record = b"src/upload.py:40-72 retry_upload [0.12, -0.4, ...]";
        let id = key.object_id("static:scry-code@1", record);
        let sealed = key.seal(&id, record);
        assert_eq!(key.open(&id, &sealed).unwrap(), record);
        assert!(
            !sealed.windows(12).any(|w| w == &record[..12]),
            "no plaintext in the ciphertext"
        );

        // Another id (a ciphertext moved), another org, a flipped bit, a cut: refused.
        let other_id = key.object_id("static:scry-code@1", b"other");
        assert_eq!(key.open(&other_id, &sealed), Err(SealError::DoesNotOpen));
        assert_eq!(
            OrgKey::generate(1).open(&id, &sealed),
            Err(SealError::DoesNotOpen)
        );
        for at in [0, 3, 10, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[at] ^= 0x40;
            assert!(key.open(&id, &tampered).is_err(), "flip at {at}");
        }
        assert_eq!(key.open(&id, &sealed[..20]), Err(SealError::Truncated));
        // The same plaintext seals differently each time (random nonces) under one id.
        assert_ne!(key.seal(&id, record), sealed);
    }

    #[test]
    fn ids_are_per_org_and_per_model() {
        let (a, b) = (OrgKey::generate(1), OrgKey::generate(1));
        let text = b"def retry_upload(path): ...";
        assert_eq!(a.object_id("m1", text), a.object_id("m1", text));
        assert_ne!(a.object_id("m1", text), b.object_id("m1", text));
        assert_ne!(a.object_id("m1", text), a.object_id("m2", text));
        // The model id's length is bound in: no sliding bytes between it and the text.
        assert_ne!(a.object_id("m1", b"x"), a.object_id("m1x", b""));
    }

    #[test]
    fn an_org_key_reaches_only_the_device_it_was_wrapped_for() {
        let key = OrgKey::generate(7);
        let (laptop, stranger) = (DeviceKey::generate(), DeviceKey::generate());
        let wrapped = key.wrap_for(&laptop.public());
        let unwrapped = laptop.unwrap_key(&wrapped).unwrap();
        assert_eq!(unwrapped.epoch(), 7);
        assert_eq!(unwrapped.fingerprint(), key.fingerprint());
        let id = key.object_id("m", b"chunk");
        assert_eq!(
            unwrapped.open(&id, &key.seal(&id, b"chunk")).unwrap(),
            b"chunk"
        );

        assert_eq!(
            stranger.unwrap_key(&wrapped).err(),
            Some(SealError::DoesNotOpen)
        );
        let mut tampered = wrapped.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            laptop.unwrap_key(&tampered).err(),
            Some(SealError::DoesNotOpen)
        );
        // A device's secret survives the credential store.
        let restored = DeviceKey::from_bytes(*laptop.to_bytes());
        assert!(restored.unwrap_key(&wrapped).is_ok());
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let key = OrgKey::generate(1);
        let print = key.fingerprint();
        assert_eq!(print.len(), 24, "{print}");
        assert_eq!(print, key.fingerprint());
        assert_ne!(print, OrgKey::generate(1).fingerprint());
    }
}
