//! Request signatures, by SIGNATURE_SCHEME, of the body before gzip: Standard Webhooks'
//! `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), or
//! GitHub's `X-Hub-Signature-256` = `sha256=` + hex(HMAC-SHA256(key, body)).

use crate::secret::Secret;
use crate::settings::SIGNATURE_SCHEME;
pub use crate::settings::SignatureScheme;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How every webhook request is signed: WEBHOOK_SECRET read as SIGNATURE_SCHEME says.
#[derive(Debug, Clone)]
pub enum Signer {
    /// One or more keys (several during a rotation): a signature per key, each request.
    StandardWebhooks(Vec<Secret>),
    /// The key as written (GitHub's webhook secret is any text, used as its UTF-8 bytes).
    HubSignature256(Secret),
}

/// The shortest X-Hub-Signature-256 key: a shorter one can be guessed.
pub const HUB_KEY_MIN_CHARS: usize = 16;

impl Signer {
    /// WEBHOOK_SECRET for `scheme`; the error never shows the value.
    pub fn parse(scheme: SignatureScheme, value: &str) -> Result<Signer, String> {
        let key = value.trim();
        match scheme {
            SignatureScheme::StandardWebhooks => standard_keys(value).map(Signer::StandardWebhooks),
            SignatureScheme::XHubSignature256 if key.chars().count() >= HUB_KEY_MIN_CHARS => {
                Ok(Signer::HubSignature256(Secret::new(key)))
            }
            SignatureScheme::XHubSignature256 => Err(format!(
                "with {SIGNATURE_SCHEME}=x-hub-signature-256 the key is used as written and must be at least {HUB_KEY_MIN_CHARS} characters (the value is not shown), e.g. the output of `openssl rand -hex 32`"
            )),
        }
    }

    /// The signature header for one attempt: its name and value. `body` is the body before gzip.
    pub fn header(&self, id: &str, timestamp: u64, body: &[u8]) -> (&'static str, String) {
        match self {
            Signer::StandardWebhooks(keys) => {
                let signed = format!("{id}.{timestamp}.");
                let sigs: Vec<String> = (keys.iter())
                    .map(|key| STANDARD.decode(key.expose()).expect("validated at parse"))
                    .map(|key| hmac(&key).chain_update(&signed).chain_update(body))
                    .map(|mac| format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
                    .collect();
                ("webhook-signature", sigs.join(" "))
            }
            Signer::HubSignature256(key) => {
                let mac = hmac(key.expose().as_bytes()).chain_update(body);
                let hex = format!("sha256={:x}", mac.finalize().into_bytes());
                ("x-hub-signature-256", hex)
            }
        }
    }

    /// For `check`: which scheme, and in which header.
    pub fn describe(&self) -> &'static str {
        match self {
            Signer::StandardWebhooks(_) => "signed with Standard Webhooks (webhook-signature)",
            Signer::HubSignature256(_) => "signed with X-Hub-Signature-256 (sha256=<hex HMAC>)",
        }
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::new_from_slice(key).expect("HMAC takes any key length")
}

/// Standard Webhooks' keys: `whsec_<base64>` entries separated by spaces.
fn standard_keys(value: &str) -> Result<Vec<Secret>, String> {
    if value.split_whitespace().next().is_none() {
        return Err("no key given; expected whsec_ followed by base64".into());
    }
    let key = |(entry, n): (&str, u32)| {
        crate::secret::register(entry);
        let why = "must start with whsec_ followed by base64 (as Standard Webhooks defines)";
        let Some(b64) = entry.strip_prefix("whsec_") else {
            return Err(format!("key {n} {why}"));
        };
        let raw = (STANDARD.decode(b64))
            .map_err(|_| format!("key {n} is not valid base64 after whsec_"))?;
        if raw.len() < 16 {
            return Err(format!(
                "key {n} is too short: use at least 16 random bytes (24-64 recommended)"
            ));
        }
        Ok(Secret::new(STANDARD.encode(raw)))
    };
    value.split_whitespace().zip(1..).map(key).collect()
}

/// The `webhook-id` of a batch: a digest of its log ids, the same on every retry and rerun.
pub fn batch_id<'a>(log_ids: impl Iterator<Item = &'a str>) -> String {
    let digest = log_ids.fold(Sha256::new(), |h, id| h.chain_update(id).chain_update("\n"));
    format!("batch_{:.32x}", digest.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard(keys: &str) -> Result<Signer, String> {
        Signer::parse(SignatureScheme::StandardWebhooks, keys)
    }

    #[test]
    fn matches_the_specification_test_vector() {
        let keys = standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let (name, sig) = keys.header(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(name, "webhook-signature");
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn several_keys_give_several_signatures() {
        let keys = standard(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let (_, sig) = keys.header("a", 1, b"b");
        assert_eq!(sig.split(' ').count(), 2);
        assert!(sig.split(' ').all(|s| s.starts_with("v1,")));
    }

    #[test]
    fn bad_keys_are_explained_without_echoing_them() {
        let e = standard("nothex").unwrap_err();
        assert!(e.contains("whsec_") && !e.contains("nothex"), "{e}");
        assert!(standard("whsec_!!!").unwrap_err().contains("base64"));
        assert!(
            format!(
                "{:?}",
                standard("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
            )
            .contains("***")
        );
    }

    /// GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    #[test]
    fn hub_signature_matches_githubs_example() {
        let signer = Signer::parse(
            SignatureScheme::XHubSignature256,
            "It's a Secret to Everybody",
        )
        .unwrap();
        let (name, value) = signer.header("ignored", 0, b"Hello, World!");
        assert_eq!(name, "x-hub-signature-256");
        assert_eq!(
            value,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_hub_key_is_any_text_of_16_characters_never_echoed() {
        assert!(Signer::parse(SignatureScheme::XHubSignature256, "0123456789abcdef").is_ok());
        let e = Signer::parse(SignatureScheme::XHubSignature256, "short-secret-15").unwrap_err();
        assert!(
            e.contains("16 characters") && !e.contains("short-secret-15"),
            "{e}"
        );
        let whsec = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let (_, as_written) = Signer::parse(SignatureScheme::XHubSignature256, whsec)
            .unwrap()
            .header("i", 0, b"x");
        let mac = hmac(whsec.as_bytes()).chain_update(b"x");
        assert_eq!(
            as_written,
            format!("sha256={:x}", mac.finalize().into_bytes())
        );
    }

    #[test]
    fn batch_id_is_stable_and_depends_on_every_id() {
        let a = batch_id(["1", "2"].into_iter());
        // The first 16 bytes of SHA-256("1\n2\n"): the same id as earlier versions gave.
        assert_eq!(a, "batch_a6e2b7a040683432de03a18fd8a1939a");
        assert_ne!(a, batch_id(["1", "3"].into_iter()));
        assert_ne!(a, batch_id(["12"].into_iter()));
    }
}
