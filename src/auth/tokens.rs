//! Bearer tokens: HS256 JWTs whose algorithm, issuer, audience and required claims are pinned.
//! The audience binds them to the API, so no other token this server signs can stand in for one.

use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub const ISSUER: &str = "aegis";
pub const AUDIENCE: &str = "aegis-api";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    /// The user's token version when the token was issued.
    pub ver: i64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

impl TokenKeys {
    /// Builds the keys and proves at once that signing and verifying work, so a broken crypto
    /// backend stops the start rather than the first login.
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<TokenKeys> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        let keys = TokenKeys {
            encoding: EncodingKey::from_secret(secret).context("token signing key")?,
            decoding: DecodingKey::from_secret(secret).context("token verifying key")?,
            validation,
            ttl,
        };
        let probe = keys.issue("self-test", 0).context("signing a self-test token")?;
        keys.verify(&probe.token).map_err(|err| anyhow::anyhow!("verifying a self-test token: {err}"))?;
        Ok(keys)
    }

    pub fn issue(&self, user_id: &str, token_version: i64) -> anyhow::Result<IssuedToken> {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now,
            exp: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            ver: token_version,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken { token, expires_in: ttl })
    }

    /// Checks signature, algorithm, issuer, audience, expiry and not-before. Every failure is the
    /// same 401: the caller learns nothing about which check failed.
    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|err| {
            tracing::debug!(error = %err, "rejected bearer token");
            AppError::Unauthorized("invalid or expired token".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_token_verifies() {
        let keys = TokenKeys::new(SECRET, Duration::from_secs(60)).unwrap();
        let issued = keys.issue("user-1", 3).unwrap();
        assert_eq!(issued.expires_in, 60);
        let claims = keys.verify(&issued.token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.ver), ("user-1", 3));
    }

    #[test]
    fn other_key_and_garbage_are_refused() {
        let keys = TokenKeys::new(SECRET, Duration::from_secs(60)).unwrap();
        let other = TokenKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60)).unwrap();
        let token = other.issue("user-1", 0).unwrap().token;
        assert!(keys.verify(&token).is_err());
        assert!(keys.verify("not.a.token").is_err());
        assert!(keys.verify("").is_err());
    }
}
