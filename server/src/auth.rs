//! Credentials: passwords (argon2id), opaque session tokens, API keys with a checksum, device
//! codes. Secrets are shown once and stored only as SHA-256 hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const SESSION_PREFIX: &str = "scry_sess_";
pub const KEY_PREFIX: &str = "scry_live_";
/// Characters of an API key shown in listings: the prefix and the first six random ones.
const KEY_DISPLAY: usize = KEY_PREFIX.len() + 6;

/// `n` random base62 characters from the OS's generator.
pub fn random_token(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

/// What the database stores of a token, key or code.
pub fn hash_secret(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16-byte salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

pub fn new_session_token() -> String {
    format!("{SESSION_PREFIX}{}", random_token(32))
}

/// A new API key: `scry_live_<30 random>_<crc32 of the rest, 6 base62>`.
pub fn new_api_key() -> String {
    let body = format!("{KEY_PREFIX}{}", random_token(30));
    let crc = checksum(&body);
    format!("{body}_{crc}")
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("ascii")
}

/// Whether `key` has the API key format and its checksum matches: a typo or a forged key is
/// refused without touching the database.
pub fn api_key_well_formed(key: &str) -> bool {
    let Some((body, crc)) = key.rsplit_once('_') else {
        return false;
    };
    body.len() == KEY_PREFIX.len() + 30
        && body.starts_with(KEY_PREFIX)
        && body[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
        && crc.len() == 6
        && checksum(body) == crc
}

pub fn api_key_display(key: &str) -> String {
    key[..KEY_DISPLAY].to_string()
}

/// A code a person types from another device: eight letters without look-alikes, `XXXX-XXXX`.
pub fn new_user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let mut rng = rand::rng();
    let c: Vec<char> = (0..8)
        .map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char)
        .collect();
    format!(
        "{}-{}",
        c[..4].iter().collect::<String>(),
        c[4..].iter().collect::<String>()
    )
}

/// User codes are compared without case or dashes: people retype them.
pub fn normalise_user_code(code: &str) -> String {
    let letters: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if letters.len() == 8 {
        format!("{}-{}", &letters[..4], &letters[4..])
    } else {
        letters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_carry_a_checksum() {
        let key = new_api_key();
        assert!(key.starts_with("scry_live_"), "{key}");
        assert!(api_key_well_formed(&key));
        let mut typo = key.clone().into_bytes();
        let i = KEY_PREFIX.len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        assert!(!api_key_well_formed(&String::from_utf8(typo).unwrap()));
        assert!(!api_key_well_formed("scry_live_short_abc123"));
        assert!(!api_key_well_formed(""));
        assert_eq!(api_key_display(&key).len(), KEY_PREFIX.len() + 6);
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn user_codes_normalise() {
        let code = new_user_code();
        assert_eq!(
            normalise_user_code(&code.to_lowercase().replace('-', " ")),
            code
        );
    }
}
