//! Password authentication: SCRAM-SHA-256, as Postgres does it with
//! `password_encryption = scram-sha-256` and a `scram-sha-256` line in `pg_hba.conf`.
//!
//! Semantics:
//! - [`Passwords`] maps user names to SCRAM verifiers (salt, iteration count, stored
//!   key, server key). A cleartext password is turned into a verifier once, when it is
//!   added, and not kept; a verifier in Postgres' own form
//!   (`SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>`, as in
//!   `pg_authid.rolpassword`) is taken as it is.
//! - A user that is not in the map goes through the same exchange, with a salt derived
//!   from the user name and a key chosen at start, and fails like a wrong password: FATAL
//!   `password authentication failed for user "x"` (SQLSTATE 28P01). A client cannot
//!   tell which user names exist, as with Postgres.
//! - Over TLS, SCRAM-SHA-256-PLUS (channel binding `tls-server-end-point`) is offered
//!   besides SCRAM-SHA-256; over a plain connection only SCRAM-SHA-256 is, as in
//!   Postgres.
//!
//! The SCRAM exchange itself (nonces, proofs, channel binding) is the `pgwire` crate's;
//! this module supplies the verifiers and the choice of mechanism.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::mechanism::{AuthMechanism, AuthMechanismFactory};
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthDriver, AuthSource, DefaultServerParameterProvider, LoginInfo, Password,
};
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};

/// The iteration count of verifiers made from cleartext passwords (Postgres'
/// `scram_iterations` default).
pub const SCRAM_ITERATIONS: usize = 4096;

/// Salt bytes of verifiers made here (Postgres uses 16).
const SALT_BYTES: usize = 16;

/// The SCRAM verifier of one user.
#[derive(Clone)]
struct Verifier {
    salt: Vec<u8>,
    iterations: usize,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    fn from_password(password: &str, salt: Vec<u8>, iterations: usize) -> Verifier {
        let salted = gen_salted_password(password, &salt, iterations);
        match ScramSecret::verifier_from_salted_password(salt, salted, iterations) {
            ScramSecret::Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            } => Verifier {
                salt,
                iterations,
                stored_key,
                server_key,
            },
            ScramSecret::SaltedPassword { .. } => {
                unreachable!("verifier_from_salted_password returns a verifier")
            }
        }
    }

    /// Postgres' form: `SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>`,
    /// the salt and keys in base64.
    fn parse(text: &str) -> Option<Verifier> {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let rest = text.strip_prefix(SCRAM_PREFIX)?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let verifier = Verifier {
            salt: STANDARD.decode(salt).ok()?,
            iterations: iterations.parse().ok().filter(|&i| i > 0)?,
            stored_key: STANDARD.decode(stored_key).ok()?,
            server_key: STANDARD.decode(server_key).ok()?,
        };
        (verifier.stored_key.len() == 32 && verifier.server_key.len() == 32).then_some(verifier)
    }

    fn secret(&self) -> ScramSecret {
        ScramSecret::Verifier {
            salt: self.salt.clone(),
            iterations: self.iterations,
            stored_key: self.stored_key.clone(),
            server_key: self.server_key.clone(),
        }
    }
}

/// How a stored password that is already a SCRAM verifier begins.
const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";

/// A line of a password file that is not `user:password`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordFileError {
    #[error("line {line}: expected user:password")]
    NotUserPassword { line: usize },
    #[error("line {line}: user \"{user}\" has an empty password")]
    EmptyPassword { line: usize, user: String },
    #[error("line {line}: user \"{user}\" is listed twice")]
    DuplicateUser { line: usize, user: String },
    #[error("line {line}: user \"{user}\" has a malformed SCRAM-SHA-256 verifier")]
    BadVerifier { line: usize, user: String },
    #[error("no user:password line")]
    Empty,
}

/// The users that may log in and their SCRAM verifiers.
#[derive(Clone)]
pub struct Passwords {
    users: BTreeMap<String, Verifier>,
    /// Keys the salts of users that do not exist (see the module docs).
    mock_key: String,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the verifiers: they are enough to try passwords offline.
        f.debug_struct("Passwords")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Passwords {
            users: BTreeMap::new(),
            mock_key: random_hex(32),
        }
    }
}

impl Passwords {
    /// No users: every login fails.
    pub fn new() -> Passwords {
        Passwords::default()
    }

    /// One user with a cleartext password.
    pub fn single(user: &str, password: &str) -> Passwords {
        let mut passwords = Passwords::new();
        passwords.insert(user, password);
        passwords
    }

    /// Adds (or replaces) `user` with a cleartext `password`, or with a verifier when
    /// `password` is one in Postgres' form (`SCRAM-SHA-256$...`).
    pub fn insert(&mut self, user: &str, password: &str) {
        let verifier = Verifier::parse(password).unwrap_or_else(|| {
            Verifier::from_password(password, random_bytes(SALT_BYTES), SCRAM_ITERATIONS)
        });
        self.users.insert(user.to_owned(), verifier);
    }

    /// Reads a password file: one `user:password` per line, split at the first `:`
    /// (so a user name has no `:`, a password may). A password that begins with
    /// `SCRAM-SHA-256$` is a verifier in Postgres' form. Empty lines and lines that
    /// begin with `#` are skipped; a line's trailing `\r` is dropped.
    pub fn parse_file(text: &str) -> Result<Passwords, PasswordFileError> {
        let mut passwords = Passwords::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                return Err(PasswordFileError::NotUserPassword { line: line_number });
            };
            if user.is_empty() {
                return Err(PasswordFileError::NotUserPassword { line: line_number });
            }
            if password.is_empty() {
                return Err(PasswordFileError::EmptyPassword {
                    line: line_number,
                    user: user.to_owned(),
                });
            }
            if passwords.users.contains_key(user) {
                return Err(PasswordFileError::DuplicateUser {
                    line: line_number,
                    user: user.to_owned(),
                });
            }
            if password.starts_with(SCRAM_PREFIX) && Verifier::parse(password).is_none() {
                return Err(PasswordFileError::BadVerifier {
                    line: line_number,
                    user: user.to_owned(),
                });
            }
            passwords.insert(user, password);
        }
        if passwords.users.is_empty() {
            return Err(PasswordFileError::Empty);
        }
        Ok(passwords)
    }

    /// The user names, in order.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.users.keys().map(String::as_str)
    }

    /// The verifier of a user that does not exist: a salt that is the same for every
    /// attempt at that name, and keys no password matches.
    fn mock(&self, user: &str) -> Verifier {
        let mut salt = gen_salted_password(&self.mock_key, user.as_bytes(), 1);
        salt.truncate(SALT_BYTES);
        Verifier {
            salt,
            iterations: SCRAM_ITERATIONS,
            stored_key: random_bytes(32),
            server_key: random_bytes(32),
        }
    }
}

#[async_trait]
impl AuthSource for Passwords {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        // Only SCRAM is offered, and it asks `get_scram_secret`.
        Err(PgWireError::InvalidSASLState)
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = login.user().unwrap_or_default();
        let verifier = match self.users.get(user) {
            Some(verifier) => verifier.clone(),
            None => self.mock(user),
        };
        Ok((verifier.secret(), None))
    }
}

/// Password authentication for every connection of a server.
pub(crate) struct Authenticator {
    pub(crate) driver: AuthDriver<DefaultServerParameterProvider>,
    /// SCRAM-SHA-256, for plain connections.
    plain: ScramAuth,
    /// SCRAM-SHA-256 and -PLUS bound to the server certificate, for TLS connections.
    tls: Option<ScramAuth>,
}

impl Authenticator {
    /// `cert_pem`: the server's certificate chain when TLS is on, for channel binding.
    pub(crate) fn new(
        passwords: Arc<Passwords>,
        cert_pem: Option<&[u8]>,
    ) -> Result<Authenticator, PgWireError> {
        let source: Arc<dyn AuthSource> = passwords;
        let plain = ScramAuth::new(Arc::clone(&source));
        let tls = match cert_pem {
            Some(pem) => {
                let mut auth = ScramAuth::new(source);
                auth.configure_certificate(pem)?;
                Some(auth)
            }
            None => None,
        };
        Ok(Authenticator {
            driver: AuthDriver::new(DefaultServerParameterProvider::default()),
            plain,
            tls,
        })
    }

    /// A fresh exchange for one connection.
    pub(crate) fn mechanism(&self, client: &impl ClientInfo) -> Box<dyn AuthMechanism> {
        match (&self.tls, client.is_secure()) {
            (Some(tls), true) => tls.create(),
            _ => self.plain.create(),
        }
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_lines() {
        let passwords =
            Passwords::parse_file("# users\nalice:s3cret\r\n\nbob:a:b:c\n").expect("parses");
        assert_eq!(passwords.users().collect::<Vec<_>>(), ["alice", "bob"]);
        // The password of bob is "a:b:c": split at the first colon.
        let bob = &passwords.users["bob"];
        let again = Verifier::from_password("a:b:c", bob.salt.clone(), bob.iterations);
        assert_eq!(again.stored_key, bob.stored_key);
    }

    #[test]
    fn password_file_errors() {
        let err = |text| Passwords::parse_file(text).unwrap_err();
        assert_eq!(
            err("alice:x\njust-a-password\n"),
            PasswordFileError::NotUserPassword { line: 2 }
        );
        assert_eq!(err(":x"), PasswordFileError::NotUserPassword { line: 1 });
        assert_eq!(
            err("alice:"),
            PasswordFileError::EmptyPassword {
                line: 1,
                user: "alice".into()
            }
        );
        assert_eq!(
            err("alice:x\nalice:y"),
            PasswordFileError::DuplicateUser {
                line: 2,
                user: "alice".into()
            }
        );
        assert_eq!(
            err("alice:SCRAM-SHA-256$4096:c2FsdA==$x:y"),
            PasswordFileError::BadVerifier {
                line: 1,
                user: "alice".into()
            }
        );
        assert_eq!(err("# nothing\n\n"), PasswordFileError::Empty);
    }

    #[test]
    fn postgres_verifiers_are_taken_as_they_are() {
        // The text form of a verifier, as `pg_authid.rolpassword` holds it.
        let made = Verifier::from_password("pencil", b"0123456789abcdef".to_vec(), 4096);
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let text = format!(
            "SCRAM-SHA-256$4096:{}${}:{}",
            STANDARD.encode(&made.salt),
            STANDARD.encode(&made.stored_key),
            STANDARD.encode(&made.server_key)
        );
        let parsed = Verifier::parse(&text).expect("a verifier");
        assert_eq!(parsed.salt, made.salt);
        assert_eq!(parsed.iterations, 4096);
        assert_eq!(parsed.stored_key, made.stored_key);
        assert_eq!(parsed.server_key, made.server_key);
    }

    #[test]
    fn unknown_users_get_a_stable_salt() {
        let passwords = Passwords::single("alice", "x");
        assert_eq!(
            passwords.mock("mallory").salt,
            passwords.mock("mallory").salt
        );
        assert_ne!(passwords.mock("mallory").salt, passwords.mock("eve").salt);
        assert_eq!(passwords.mock("mallory").salt.len(), SALT_BYTES);
        assert!(!format!("{passwords:?}").contains("stored"));
    }
}
