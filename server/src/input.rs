//! What people type: names, email addresses and passwords, checked so that what is stored is
//! what another person will see (no invisible or direction-changing characters, no look-alike
//! letters in addresses) and compared the same way everywhere (addresses normalised).

/// A display name (an organisation, a repository, a key): trimmed, 1 to 100 characters, none
/// of them control, format (bidirectional overrides, zero-width, byte-order marks) or
/// unassigned-looking private-use characters.
pub fn name(raw: &str) -> Option<String> {
    let name = raw.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
    let n = name.chars().count();
    let ok = (1..=100).contains(&n)
        && !name
            .chars()
            .any(|c| c.is_control() || is_invisible(c) || is_private_use(c));
    ok.then(|| name.to_string())
}

/// An email address, normalised: trimmed and lower-cased, ASCII only (an international domain
/// is written in its `xn--` form, so no letter can pass for another), one `@`, a local part of
/// the characters RFC 5322 allows unquoted, a domain of at least two LDH labels.
pub fn email(raw: &str) -> Option<String> {
    let email = raw.trim().to_ascii_lowercase();
    if email.len() > 254 || !email.is_ascii() {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    (local_ok && domain_ok).then_some(email)
}

/// A password: 10 to 1024 characters (not bytes), no control characters, not only spaces.
pub fn password(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if !(10..=1024).contains(&n) {
        return Err("password must be 10 to 1024 characters");
    }
    if password.chars().any(char::is_control) {
        return Err("password must not contain control characters");
    }
    if password.chars().all(char::is_whitespace) {
        return Err("password must not be only spaces");
    }
    Ok(())
}

/// Format characters that change how text around them shows without showing themselves.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                  // soft hyphen
        | '\u{034F}'                // combining grapheme joiner
        | '\u{061C}'                // Arabic letter mark
        | '\u{115F}' | '\u{1160}'   // Hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'   // Mongolian variation selectors and vowel separator
        | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, directional marks
        | '\u{202A}'..='\u{202E}'   // bidirectional embeddings and overrides
        | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, bidirectional isolates
        | '\u{3164}'                // Hangul filler
        | '\u{FE00}'..='\u{FE0F}'   // variation selectors
        | '\u{FEFF}'                // byte-order mark / zero-width no-break space
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'   // interlinear annotations
        | '\u{E0000}'..='\u{E007F}' // tags
        | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
    )
}

fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

/// A machine name (a ref, a model id): 1 to 100 of `A-Z a-z 0-9 . _ - / : @ +`.
pub fn token_like(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@' | b'+')
        })
}

/// A synced object's id: 64 lowercase hex digits.
pub fn object_id(id: &str) -> bool {
    id.len() == scry_api::OBJECT_ID_LEN
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A path inside a repository as hosted search writes it out: relative, `/`-separated, no
/// empty, `.` or `..` component, no control character or backslash, at most 1,024 bytes and
/// 255 per component.
pub fn repo_path(path: &str) -> bool {
    (1..=1_024).contains(&path.len())
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path
            .split('/')
            .all(|part| !matches!(part, "" | "." | "..") && part.len() <= 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_stay_inside_the_repository() {
        for good in ["src/main.rs", "a", "docs/.vuepress/config.js", "x/y z/ü.py"] {
            assert!(repo_path(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            "a//b",
            "a/./b",
            "a/",
            "a\\..\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(!repo_path(bad), "{bad:?}");
        }
        assert!(!repo_path(&"a".repeat(256)));
        assert!(!repo_path(&"ab/".repeat(400)));
    }

    #[test]
    fn names_refuse_what_hides_or_reorders_text() {
        assert_eq!(name("  acme  ").as_deref(), Some("acme"));
        assert_eq!(
            name("Café Zürich 東京").as_deref(),
            Some("Café Zürich 東京")
        );
        for bad in [
            "",
            "   ",
            "ac\u{202E}me",
            "a\u{200B}b",
            "\u{FEFF}",
            "a\u{2066}b",
            "a\u{0000}b",
            "a\nb",
            "\u{E000}x",
        ] {
            assert_eq!(name(bad), None, "{bad:?}");
        }
        assert_eq!(name(&"x".repeat(101)), None);
        assert!(name(&"é".repeat(100)).is_some(), "characters, not bytes");
    }

    #[test]
    fn emails_are_ascii_well_formed_and_normalised() {
        assert_eq!(
            email(" Alice@Example.COM ").as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(
            email("dave+scry@xn--bcher-kva.example").as_deref(),
            Some("dave+scry@xn--bcher-kva.example")
        );
        for bad in [
            "\u{0430}lice@a.test", // Cyrillic а
            "alice@a.test\u{202E}",
            "a@b..test",
            "a@b.test@c.test",
            "a@.test",
            "a@test",
            "a b@c.test",
            ".a@b.test",
            "a..b@c.test",
            "a@-b.test",
            "@b.test",
            "bob",
        ] {
            assert_eq!(email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn passwords_count_characters_and_refuse_blanks() {
        assert!(password("correct horse battery").is_ok());
        assert!(
            password(&"€".repeat(400)).is_ok(),
            "400 characters, 1,200 bytes"
        );
        assert!(password(&" ".repeat(10)).is_err());
        assert!(password(&"\0".repeat(10)).is_err());
        assert!(password("short").is_err());
        assert!(password(&"x".repeat(1025)).is_err());
    }
}
