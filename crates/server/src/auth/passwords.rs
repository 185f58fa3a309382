//! Passwords: argon2id hashes with OWASP's parameters (19 MiB, 2 passes, 1 lane). A hash costs tens of
//! milliseconds of one core and 19 MiB, so it runs on a blocking thread, and only as many at once as there are
//! cores: a burst of sign-ins queues instead of exhausting memory.

use std::sync::OnceLock;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use switchboard_domain::{Code, Error};
use tokio::sync::Semaphore;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 128;

/// A password that meets the rules: 12 to 128 characters (counted as characters, not bytes, so that any script
/// is measured alike). Never printed.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    pub fn parse(raw: String, field: &str) -> Result<Self, Error> {
        let n = raw.chars().count();
        if n < MIN_CHARS {
            return Err(Error::field(
                Code::PasswordTooShort,
                field,
                format!("a password needs at least {MIN_CHARS} characters, got {n}"),
            ));
        }
        if n > MAX_CHARS {
            return Err(Error::field(
                Code::PasswordTooLong,
                field,
                format!("a password has at most {MAX_CHARS} characters, got {n}"),
            ));
        }
        Ok(Self(raw))
    }
}

fn hasher() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19 * 1024, 2, 1, None).map_err(|e| Error::internal(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)))
}

async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> Result<R, Error> {
    let _permit = permits().acquire().await.map_err(Error::internal)?;
    tokio::task::spawn_blocking(work).await.map_err(Error::internal)
}

fn hash_now(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()?.hash_password(password.as_bytes(), &salt).map_err(|e| Error::internal(e.to_string()))?.to_string())
}

/// The PHC string to store for `password`.
pub async fn hash(password: Password) -> Result<String, Error> {
    blocking(move || hash_now(&password.0)).await?
}

/// A hash of a random password, verified against when there is no user, so that an unknown email costs the same
/// work as a known one and the answer's timing says nothing about which emails exist.
fn stand_in() -> &'static str {
    static STAND_IN: OnceLock<String> = OnceLock::new();
    STAND_IN.get_or_init(|| hash_now(&super::secrets::random_token("")).unwrap_or_default())
}

/// Whether `password` matches `stored`; with no stored hash, the same work and `false`.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Error> {
    blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| stand_in().to_string());
        let Ok(parsed) = PasswordHash::new(&stored) else { return false };
        // The stored hash's own parameters are used, so hashes made with older parameters still verify.
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        known && matches
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash(Password::parse("correct horse battery".into(), "password").unwrap()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(stored.clone())).await.unwrap());
        assert!(!verify("correct horse batterz".into(), Some(stored)).await.unwrap());
        assert!(!verify("correct horse battery".into(), None).await.unwrap());
    }

    #[test]
    fn passwords_are_12_to_128_characters() {
        assert_eq!(Password::parse("a".repeat(11), "p").unwrap_err().code, Code::PasswordTooShort);
        assert!(Password::parse("é".repeat(12), "p").is_ok());
        assert!(Password::parse("a".repeat(128), "p").is_ok());
        assert_eq!(Password::parse("a".repeat(129), "p").unwrap_err().code, Code::PasswordTooLong);
    }
}
