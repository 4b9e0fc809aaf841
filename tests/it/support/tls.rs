//! HTTPS for the fakes: certificates made at test time (a private CA, server certificates it
//! signs, a self-signed one) and servers on `127.0.0.1:0` that present them.
//!
//! `https_server` serves a handler like `Server::start` does; `TlsFront` puts HTTPS in front of
//! a plain fake (`FakeTenant`, `FakeReceiver`) so their scripting and records work unchanged.

use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::http::{Conn, Reply, Request, Server, Wrap};

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

/// Starts an HTTPS server on `127.0.0.1:0` presenting `cert`; `url()` gives
/// `https://127.0.0.1:PORT`. A client that rejects the certificate ends the handshake, so its
/// connection shows in `connection_count()` but no request in `request_count()`.
pub fn https_server(
    cert: &ServerCert,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> Server {
    let config = cert.server_config();
    let wrap: Arc<Wrap> = Arc::new(move |tcp: TcpStream| {
        let session = ServerConnection::new(Arc::clone(&config)).map_err(io::Error::other)?;
        // The handshake happens on the first read, on the connection's own thread.
        Ok(Box::new(StreamOwned::new(session, tcp)) as Box<dyn Conn>)
    });
    Server::start_with("https", wrap, handler)
}

/// An HTTPS server that forwards every request to a plain-http fake and hands back its answer
/// (a refused or dropped backend connection is passed on as a dropped connection).
pub struct TlsFront {
    server: Server,
}

impl TlsFront {
    /// Fronts `backend` (e.g. `FakeReceiver::base_url()`, `FakeTenant::url()`), presenting
    /// `cert`.
    pub fn start(cert: &ServerCert, backend: &str) -> TlsFront {
        let backend = backend.trim_end_matches('/').to_string();
        let client = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(None)
            .build()
            .expect("build the forwarding client");
        let server = https_server(cert, move |request| forward(&client, &backend, request));
        TlsFront { server }
    }

    /// `https://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn server(&self) -> &Server {
        &self.server
    }
}

/// Headers that describe one hop of a connection, not the message: never forwarded.
fn hop_by_hop(name: &str) -> bool {
    [
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn forward(client: &reqwest::blocking::Client, backend: &str, request: &Request) -> Reply {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return Reply::text(400, "method not understood by the TLS front");
    };
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &request.headers {
        if hop_by_hop(name) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let sent = client
        .request(method, format!("{backend}{}", request.target))
        .headers(headers)
        .body(request.body.clone())
        .send();
    let Ok(response) = sent else {
        return Reply::Drop;
    };
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !hop_by_hop(name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect();
    let Ok(body) = response.bytes() else {
        return Reply::Drop;
    };
    Reply::Respond {
        status,
        headers,
        body: body.to_vec(),
        delay: std::time::Duration::ZERO,
    }
}
