//! Token attacks (RFC 8725): each answered 401, a valid token still works afterwards, and no key
//! URL in a token header is ever fetched.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aegis::auth::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TEST_SECRET, TestApp, expect_error};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Sha256, Sha512};

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A JWT with any header, signed with HMAC-SHA256 (or 512) under `key`, by hand: no library
/// second-guesses what an attacker would send.
fn forge(header: &Value, claims: &Value, key: &[u8], sha512: bool) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = if sha512 {
        let mut mac = Hmac::<Sha512>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    } else {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Counts every connection a token header might make the server open.
async fn trap_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, hits)
}

#[tokio::test]
async fn every_forged_or_stale_token_is_refused() {
    let app = TestApp::start().await;
    let user = app.create_user("victim", Role::RedTech).await;
    let (trap, hits) = trap_server().await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"sub": user.id, "exp": now + 600, "iat": now, "iss": "aegis", "aud": "aegis-api", "ver": 0});
    let with = |key: &str, value: Value| {
        let mut changed = claims.clone();
        if value.is_null() {
            changed.as_object_mut().unwrap().remove(key);
        } else {
            changed[key] = value;
        }
        changed
    };
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let right = TEST_SECRET.as_bytes();
    let good = forge(&hs256, &claims, right, false);
    let unsigned = |alg: &str| format!("{}.{}.", b64(&json!({"alg": alg, "typ": "JWT"})), b64(&claims));
    let parts: Vec<&str> = good.split('.').collect();
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(b"attacker-key-attacker-key-attack")});

    let attacks: Vec<(&str, String)> = vec![
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("alg nOnE", unsigned("nOnE")),
        ("alg NONE with a signature", format!("{}.{}.{}", b64(&json!({"alg": "NONE"})), b64(&claims), parts[2])),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
        ("broken signature", format!("{}.{}.{}", parts[0], parts[1], &parts[2][..parts[2].len() - 2])),
        ("another key", forge(&hs256, &claims, b"another-key-another-key-another-k", false)),
        ("empty key", forge(&hs256, &claims, b"", false)),
        ("weak key: secret", forge(&hs256, &claims, b"secret", false)),
        ("weak key: password", forge(&hs256, &claims, b"password", false)),
        ("weak key: aegis", forge(&hs256, &claims, b"aegis", false)),
        ("weak key: changeme", forge(&hs256, &claims, b"changeme", false)),
        ("HS512 with the right key", forge(&json!({"alg": "HS512", "typ": "JWT"}), &claims, right, true)),
        ("HS384 label on an HS256 signature", forge(&json!({"alg": "HS384"}), &claims, right, false)),
        ("RS256 label", forge(&json!({"alg": "RS256"}), &claims, right, false)),
        (
            "embedded jwk",
            forge(&json!({"alg": "HS256", "jwk": jwk}), &claims, b"attacker-key-attacker-key-attack", false),
        ),
        ("jku", forge(&json!({"alg": "HS256", "jku": format!("{trap}/jwks.json")}), &claims, b"attacker", false)),
        ("x5u", forge(&json!({"alg": "HS256", "x5u": format!("{trap}/cert.pem")}), &claims, b"attacker", false)),
        ("kid path traversal", forge(&json!({"alg": "HS256", "kid": "../../../../dev/null"}), &claims, b"", false)),
        ("kid SQL", forge(&json!({"alg": "HS256", "kid": "x' UNION SELECT 'key"}), &claims, b"key", false)),
        ("tampered sub", format!("{}.{}.{}", parts[0], b64(&with("sub", json!("someone-else"))), parts[2])),
        ("tampered ver", format!("{}.{}.{}", parts[0], b64(&with("ver", json!(1))), parts[2])),
        ("expired", forge(&hs256, &with("exp", json!(now - 1)), right, false)),
        ("missing exp", forge(&hs256, &with("exp", Value::Null), right, false)),
        ("missing iat", forge(&hs256, &with("iat", Value::Null), right, false)),
        ("future nbf", forge(&hs256, &with("nbf", json!(now + 600)), right, false)),
        ("wrong iss", forge(&hs256, &with("iss", json!("not-aegis")), right, false)),
        ("missing iss", forge(&hs256, &with("iss", Value::Null), right, false)),
        ("wrong aud", forge(&hs256, &with("aud", json!("aegis-download")), right, false)),
        ("unknown sub", forge(&hs256, &with("sub", json!(uuid::Uuid::new_v4().to_string())), right, false)),
        ("sub of another type", forge(&hs256, &with("sub", json!(42)), right, false)),
        ("stale version", forge(&hs256, &with("ver", json!(5)), right, false)),
        ("two dots only", "..".into()),
        ("JSON instead of a token", claims.to_string()),
        ("oversized", "a".repeat(64 * 1024)),
    ];
    let mut refused = 0;
    for (name, token) in &attacks {
        let response = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || (*name == "oversized" && status.is_client_error()),
            "{name}: {status}"
        );
        if status == StatusCode::UNAUTHORIZED {
            expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        }
        refused += 1;
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no key URL from a token header was fetched");

    // The well-formed token works after every attack, and so does a login.
    assert_eq!(app.get("/api/v1/auth/me", Some(&good)).await.status(), StatusCode::OK);
    println!(
        "token attacks: {refused} forged or stale tokens refused, 0 outbound requests, the valid token still works"
    );
}

#[tokio::test]
async fn tokens_of_other_purposes_and_people_are_refused() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let red = app.create_user("red", Role::RedTech).await;
    let token = app.token_of("red").await;

    // A download token is no bearer token, and a bearer token is no download token.
    let technique: Value = app.get("/api/v1/techniques/T1059", Some(&admin)).await.json().await.unwrap();
    let test: Value = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/tests",
            Some(&token),
            &json!({"technique_id": technique["id"], "name": "t", "platform": "windows"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("x.txt"));
    let evidence: Value = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/tests/{}/evidence", test["id"].as_str().unwrap()),
            Some(&token),
        )
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = evidence["download_url"].as_str().unwrap();
    let download_token = link.split("token=").nth(1).unwrap();
    expect_error(app.get("/api/v1/auth/me", Some(download_token)).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        .await;
    let path = format!("/api/v1/evidence/{}/download?token={token}", evidence["id"].as_str().unwrap());
    expect_error(app.get(&path, None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Deactivation and a password change end the sessions issued before them.
    let old = app.login_token("red", common::USER_PASSWORD).await;
    let path = format!("/api/v1/users/{}", red.id);
    app.send_json(reqwest::Method::PATCH, &path, Some(&admin), &json!({"password": "a-new-password"})).await;
    expect_error(app.get("/api/v1/auth/me", Some(&old)).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let newer = app.login_token("red", "a-new-password").await;
    app.send_json(reqwest::Method::PATCH, &path, Some(&admin), &json!({"is_active": false})).await;
    expect_error(app.get("/api/v1/auth/me", Some(&newer)).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(app.get("/api/v1/auth/me", Some(&admin)).await.status(), StatusCode::OK);
}
