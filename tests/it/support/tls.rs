//! HTTPS for the fakes: certificates made at test time (a private CA, server certificates it
//! signs, a self-signed one) and servers on `127.0.0.1:0` that present them.
//!
//! `TlsFront` puts HTTPS in front of a plain fake (`FakeTenant`, `FakeReceiver`), so that their
//! scripting and records work unchanged.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::copy_bidirectional;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_rustls::TlsAcceptor;

use super::http::{listen, runtime};

/// A private certificate authority, like the one a company runs for its internal services.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    /// A new CA with a fresh key; `name` becomes its common name.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to check");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate the CA key");
        let cert = params
            .self_signed(&key)
            .expect("self-sign the CA certificate");
        TestCa {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// The CA certificate in PEM, what `--ca-cert` reads.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate (PEM) to `path`.
    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, &self.pem).expect("write the CA certificate");
    }

    /// A server certificate signed by this CA, valid for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        let params = server_params(names);
        let key = KeyPair::generate().expect("generate a server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the server certificate");
        ServerCert::new(cert.der().clone(), &key)
    }
}

/// A certificate a server presents, with its private key.
#[derive(Clone)]
pub struct ServerCert {
    cert: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
}

impl ServerCert {
    /// A certificate for `names` that signs itself: no CA vouches for it.
    pub fn self_signed(names: &[&str]) -> ServerCert {
        let params = server_params(names);
        let key = KeyPair::generate().expect("generate a server key");
        let cert = params.self_signed(&key).expect("self-sign the certificate");
        ServerCert::new(cert.der().clone(), &key)
    }

    fn new(cert: CertificateDer<'static>, key: &KeyPair) -> ServerCert {
        ServerCert {
            cert,
            key_pkcs8: key.serialize_der(),
        }
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        // The provider is named, not taken from the process default, so that this works
        // whichever rustls features the rest of the build turns on.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .expect("a matching certificate and key");
        Arc::new(config)
    }
}

fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("valid DNS names or IP addresses");
    params
        .distinguished_name
        .push(DnType::CommonName, "auth0-mgmt-webhooks test server");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// HTTPS in front of a plain-http fake: it accepts TLS connections on `127.0.0.1:0`,
/// presenting its certificate, and passes the bytes of each on to the fake over a connection of
/// its own. It counts the connections and the TLS sessions, so that a test tells a client that
/// refused the certificate (a connection, no session) from one that never came.
pub struct TlsFront {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    sessions: Arc<AtomicUsize>,
    runtime: Option<Runtime>,
}

impl TlsFront {
    /// Fronts `backend` (e.g. `FakeReceiver::base_url()`, `FakeTenant::url()`), presenting
    /// `cert`.
    pub fn start(cert: &ServerCert, backend: &str) -> TlsFront {
        let backend: SocketAddr = backend
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the backend is http://127.0.0.1:PORT");
        let acceptor = TlsAcceptor::from(cert.server_config());
        let runtime = runtime();
        let listener = listen(&runtime);
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let connections = Arc::new(AtomicUsize::new(0));
        let sessions = Arc::new(AtomicUsize::new(0));
        let (accepted, established) = (Arc::clone(&connections), Arc::clone(&sessions));
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, established) = (acceptor.clone(), Arc::clone(&established));
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    established.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            addr,
            connections,
            sessions,
            runtime: Some(runtime),
        }
    }

    /// `https://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Connections whose TLS handshake succeeded.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
