//! Download tokens: `<expiry>.<hmac>`, an HMAC-SHA256 over the purpose, one evidence id and the
//! expiry, under a key derived from the server secret for this purpose alone. A token works for
//! that evidence until it expires and for nothing else; a bearer token is not one, nor the reverse.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PURPOSE: &[u8] = b"aegis evidence download v1";

pub struct DownloadTokens {
    key: Vec<u8>,
    ttl: Duration,
}

impl DownloadTokens {
    pub fn new(secret: &[u8], ttl: Duration) -> DownloadTokens {
        let mut derive = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(PURPOSE);
        DownloadTokens { key: derive.finalize().into_bytes().to_vec(), ttl }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, evidence_id: &str) -> String {
        let expires = chrono::Utc::now().timestamp() + self.ttl.as_secs() as i64;
        format!("{expires}.{}", hex::encode(self.mac(evidence_id, expires).finalize().into_bytes()))
    }

    /// Whether `token` was issued here for `evidence_id` and has not expired (constant-time check).
    pub fn verify(&self, evidence_id: &str, token: &str) -> bool {
        let Some((expires_text, signature_text)) = token.split_once('.') else { return false };
        let (Ok(expires), Ok(signature)) = (expires_text.parse::<i64>(), hex::decode(signature_text)) else {
            return false;
        };
        // One spelling per token: no `+`, leading zeros or upper-case hex variants of a valid link.
        let canonical = expires.to_string() == expires_text
            && signature_text.len() == 64
            && signature_text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !canonical {
            return false;
        }
        // Expiry is in whole seconds: a link lasts from `ttl` to `ttl` + 1 seconds, never less.
        if expires < chrono::Utc::now().timestamp() {
            return false;
        }
        self.mac(evidence_id, expires).verify_slice(&signature).is_ok()
    }

    fn mac(&self, evidence_id: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(PURPOSE);
        mac.update(b"\0");
        mac.update(evidence_id.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_evidence_key_and_time() {
        let tokens = DownloadTokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let token = tokens.issue("evidence-1");
        assert!(tokens.verify("evidence-1", &token));
        assert!(!tokens.verify("evidence-2", &token), "another evidence id");
        let other = DownloadTokens::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert!(!other.verify("evidence-1", &token), "another key");
        let (expires, signature) = token.split_once('.').unwrap();
        let later = format!("{}.{signature}", expires.parse::<i64>().unwrap() + 3600);
        assert!(!tokens.verify("evidence-1", &later), "a stretched expiry breaks the signature");
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!tokens.verify("evidence-1", &String::from_utf8(flipped).unwrap()));
        let (expires, signature) = token.split_once('.').unwrap();
        for variant in [
            format!("+{expires}.{signature}"),
            format!("0{expires}.{signature}"),
            format!("{expires}.{}", signature.to_uppercase()),
        ] {
            assert!(!tokens.verify("evidence-1", &variant), "{variant}");
        }
        for garbage in ["", ".", "abc", "123.", ".abcd", "1.zz", "99999999999999999999.00"] {
            assert!(!tokens.verify("evidence-1", garbage), "{garbage:?}");
        }
        let past = chrono::Utc::now().timestamp() - 1;
        let signature = hex::encode(tokens.mac("evidence-1", past).finalize().into_bytes());
        assert!(!tokens.verify("evidence-1", &format!("{past}.{signature}")), "expired");
    }
}
