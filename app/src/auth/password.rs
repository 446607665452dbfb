//! Passwords: argon2id (OWASP parameters), a length policy, and a constant-shape login check.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Argon2<'static> {
    // OWASP: argon2id, m=19 MiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash compared against when the account does not exist, so both paths cost the same.
static DUMMY: LazyLock<String> =
    LazyLock::new(|| hash("not-a-real-password-just-timing").unwrap_or_default());

/// Problems with a new password, for the error's details (empty: acceptable).
pub fn policy_problems(password: &str, email: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        problems.push(format!("must be at least {MIN_LENGTH} characters"));
    }
    if chars > MAX_LENGTH {
        problems.push(format!("must be at most {MAX_LENGTH} characters"));
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if chars >= MIN_LENGTH && distinct.len() < 5 {
        problems.push("must use at least 5 different characters".to_owned());
    }
    let local = email.split('@').next().unwrap_or_default();
    if local.len() >= 4 && password.to_lowercase().contains(&local.to_lowercase()) {
        problems.push("must not contain the email address".to_owned());
    }
    problems
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// `stored`: `None` when the account does not exist (the dummy hash is checked instead).
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let target = stored.unwrap_or(DUMMY.as_str());
    let ok = PasswordHash::new(target)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", Some(&a)));
        assert!(!verify("wrong horse battery", Some(&a)));
        assert!(!verify("correct horse battery", None));
    }

    #[test]
    fn policy() {
        assert!(
            policy_problems("short", "a@b.c")
                .iter()
                .any(|p| p.contains("at least 12"))
        );
        assert!(!policy_problems("aaaaaaaaaaaaaa", "a@b.c").is_empty());
        assert!(!policy_problems("xx-alice-2024-xx", "alice@example.com").is_empty());
        assert!(policy_problems("correct horse battery", "alice@example.com").is_empty());
        assert!(!policy_problems(&"ab1-".repeat(40), "a@b.c").is_empty());
    }
}
