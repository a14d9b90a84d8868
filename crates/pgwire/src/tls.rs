//! TLS for pgwire connections (rustls with the `ring` provider).
//!
//! Semantics: with a [`Tls`] configured, an SSLRequest is answered `S` and the
//! connection continues over TLS (TLS 1.2 and 1.3); so does a direct TLS handshake
//! (`sslnegotiation=direct`, ALPN `postgresql`). Without one, SSLRequest is answered
//! `N` and the client decides whether to go on in plain text. Client certificates are
//! not asked for.

use std::fmt;
use std::sync::Arc;

use pgwire::tokio::tokio_rustls::rustls;
use pgwire::tokio::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The ALPN protocol name of Postgres' direct TLS negotiation.
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// A certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the certificate: {0}")]
    Certificate(String),
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("could not read the private key: {0}")]
    Key(String),
    #[error("the certificate and key cannot be used: {0}")]
    Config(#[from] rustls::Error),
}

/// A server certificate chain and its key, ready to accept TLS connections.
#[derive(Clone)]
pub struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    /// The PEM chain, for SCRAM channel binding (`tls-server-end-point`).
    pub(crate) cert_pem: Arc<[u8]>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// From a PEM certificate chain (the server's certificate first) and a PEM private
    /// key (PKCS#8, PKCS#1 or SEC1), as Postgres' `ssl_cert_file` and `ssl_key_file`.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Tls, TlsError> {
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if certs.is_empty() {
            return Err(TlsError::NoCertificate);
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
        // Deprecated for its lack of post-quantum key exchange, which only the
        // aws-lc-rs provider has; ring builds without cmake, and libpq does not offer
        // post-quantum groups either.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_pem: Arc::from(cert_pem),
        })
    }
}
