//! Password policy and Argon2id hashing.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), so
//! each carries the parameters it was made with. A hash made with weaker
//! parameters than the current ones is re-hashed at the next successful login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::error::{Error, Result};

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a password may have (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Passwords refused whatever their length, compared case-insensitively.
///
/// The head of the well-known yearly "most common passwords" lists (SplashData,
/// NordPass, the RockYou leak); the shorter ones are refused by length anyway
/// and are kept so the list reads as the published one.
pub const COMMON_PASSWORDS: &[&str] = &[
    "123456",
    "password",
    "12345678",
    "qwerty",
    "123456789",
    "12345",
    "1234",
    "111111",
    "1234567",
    "dragon",
    "123123",
    "baseball",
    "abc123",
    "football",
    "monkey",
    "letmein",
    "shadow",
    "master",
    "666666",
    "qwertyuiop",
    "123321",
    "mustang",
    "1234567890",
    "michael",
    "654321",
    "superman",
    "1qaz2wsx",
    "7777777",
    "121212",
    "000000",
    "qazwsx",
    "123qwe",
    "killer",
    "trustno1",
    "jordan",
    "jennifer",
    "zxcvbnm",
    "asdfgh",
    "hunter",
    "buster",
    "soccer",
    "harley",
    "batman",
    "andrew",
    "tigger",
    "sunshine",
    "iloveyou",
    "charlie",
    "robert",
    "thomas",
    "hockey",
    "ranger",
    "daniel",
    "starwars",
    "computer",
    "michelle",
    "jessica",
    "pepper",
    "11111111",
    "freedom",
    "princess",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "qwerty123",
    "qwerty12345",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4",
    "abcd1234",
    "12341234",
    "87654321",
    "987654321",
    "00000000",
    "88888888",
    "123123123",
    "11223344",
    "asdfghjkl",
    "qwertyui",
    "iloveyou1",
    "welcome",
    "welcome1",
    "welcome123",
    "admin123",
    "administrator",
    "letmein1",
    "zaq12wsx",
    "1234qwer",
    "changeme",
    "secret123",
    "football1",
    "baseball1",
    "sunshine1",
    "princess1",
    "whatever",
    "internet",
    "trustno1!",
    "starwars1",
];

/// Checks a new password against the policy: 8 to 256 characters, not one
/// of the most common passwords, and not the account's email.
pub fn check_password_policy(password: &str, email: Option<&str>) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("expected at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("expected at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(Error::invalid(
            "password",
            "too common, choose a less guessable password",
        ));
    }
    if email.is_some_and(|e| e.trim().eq_ignore_ascii_case(password.trim())) {
        return Err(Error::invalid("password", "must differ from the email"));
    }
    Ok(())
}

/// Argon2id cost parameters.
///
/// [`PasswordParams::OWASP`] is the default and what production uses; weaker
/// parameters exist for tests, and hashes made with them are upgraded at the
/// next login under stronger settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
}

impl PasswordParams {
    /// OWASP's recommended Argon2id configuration: 19 MiB memory, 2
    /// iterations, 1 degree of parallelism.
    pub const OWASP: Self = Self {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// Custom parameters: memory in KiB, iterations, parallelism. Fails when
    /// Argon2 would refuse them (memory must be at least 8 KiB per lane).
    pub fn new(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        Params::new(m_cost, t_cost, p_cost, None).map_err(|e| {
            Error::invalid(
                "password_params",
                format!("expected valid argon2 parameters ({e})"),
            )
        })?;
        Ok(Self {
            m_cost,
            t_cost,
            p_cost,
        })
    }

    /// Memory cost in KiB.
    pub fn m_cost(&self) -> u32 {
        self.m_cost
    }

    /// Number of iterations.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Degree of parallelism.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }

    fn argon2(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}").into()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// Hashes a password into a PHC string with a fresh random salt. CPU-bound:
/// call it from a blocking thread.
pub(crate) fn hash_password(password: &str, params: PasswordParams) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::Internal(format!("password salt: {e}").into()))?;
    let hash = params
        .argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("password hashing: {e}").into()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`. The comparison inside
/// argon2 is constant-time. A malformed or non-Argon2 hash never matches.
/// CPU-bound: call it from a blocking thread.
pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the hash itself; the context's own are unused.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash should be replaced by one made with `current`:
/// it is not Argon2id v1.3, or any of its costs is below the current one.
/// Stronger stored costs are kept (never downgraded).
pub(crate) fn needs_rehash(phc: &str, current: PasswordParams) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() < current.m_cost
                || p.t_cost() < current.t_cost
                || p.p_cost() < current.p_cost
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak() -> PasswordParams {
        PasswordParams::new(64, 1, 1).unwrap()
    }

    #[test]
    fn policy_rejects_short_common_and_email() {
        assert!(check_password_policy("short7!", None).is_err());
        assert!(check_password_policy("eight888", None).is_ok());
        // Length counts characters, not bytes.
        assert!(check_password_policy("ééééééé", None).is_err());
        assert!(check_password_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1), None).is_err());
        for common in [
            "password",
            "12345678",
            "123456789",
            "PassWord",
            "qwertyuiop",
        ] {
            let err = check_password_policy(common, None).unwrap_err();
            assert!(matches!(err, Error::Validation { .. }), "{common}");
        }
        assert!(check_password_policy("Ann@Example.com", Some("ann@example.com")).is_err());
        assert!(check_password_policy("ann@example.org", Some("ann@example.com")).is_ok());
    }

    #[test]
    fn top_ten_common_passwords_are_listed() {
        for p in [
            "123456",
            "password",
            "12345678",
            "qwerty",
            "123456789",
            "12345",
            "1234",
            "111111",
            "1234567",
            "dragon",
        ] {
            assert!(COMMON_PASSWORDS.contains(&p), "{p}");
            assert!(check_password_policy(p, None).is_err(), "{p}");
        }
    }

    #[test]
    fn hash_and_verify_roundtrip() {
        let phc = hash_password("correct horse", weak()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsf", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
        // Fresh salt each time.
        assert_ne!(phc, hash_password("correct horse", weak()).unwrap());
    }

    #[test]
    fn rehash_detection_follows_params() {
        let phc = hash_password("correct horse", weak()).unwrap();
        assert!(needs_rehash(&phc, PasswordParams::OWASP));
        assert!(!needs_rehash(&phc, weak()));
        let stronger = PasswordParams::new(128, 2, 1).unwrap();
        let strong_phc = hash_password("correct horse", stronger).unwrap();
        // Stronger than current: kept.
        assert!(!needs_rehash(&strong_phc, weak()));
        assert!(needs_rehash(
            &strong_phc,
            PasswordParams::new(128, 3, 1).unwrap()
        ));
        assert!(needs_rehash("garbage", weak()));
        // Argon2i (not id) is upgraded.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let i_phc = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(needs_rehash(&i_phc, weak()));
        assert!(verify_password("pw", &i_phc));
    }

    #[test]
    fn owasp_params_are_the_default() {
        let p = PasswordParams::default();
        assert_eq!((p.m_cost(), p.t_cost(), p.p_cost()), (19456, 2, 1));
        assert!(PasswordParams::new(1, 1, 1).is_err());
    }
}
