//! Login, `/auth/me`, token validation and token revocation, through HTTP.

mod common;

use aegis::auth::Role;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{ADMIN_PASSWORD, TEST_SECRET, TestApp, USER_PASSWORD, expect_error};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn login_scenarios() {
    let app = TestApp::start().await;
    app.create_user("alice", Role::RedTech).await;
    let inactive = app.create_user("mallory", Role::BlueTech).await;
    let admin = app.admin_token().await;
    let response = app
        .send_json(Method::PATCH, &format!("/api/v1/users/{}", inactive.id), Some(&admin), &json!({"is_active": false}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // (username, password, expected status)
    let table = [
        ("alice", USER_PASSWORD, StatusCode::OK),
        ("ALICE", USER_PASSWORD, StatusCode::OK),
        ("alice", "wrong-password", StatusCode::UNAUTHORIZED),
        ("nobody", USER_PASSWORD, StatusCode::UNAUTHORIZED),
        ("mallory", USER_PASSWORD, StatusCode::UNAUTHORIZED),
        ("", "", StatusCode::UNAUTHORIZED),
        ("admin", ADMIN_PASSWORD, StatusCode::OK),
    ];
    let mut unauthorized_bodies = Vec::new();
    for (username, password, expected) in table {
        let response = app.login(username, password).await;
        assert_eq!(response.status(), expected, "{username}/{password}");
        let body: Value = response.json().await.unwrap();
        if expected == StatusCode::OK {
            assert_eq!(body["token_type"], "bearer");
            assert_eq!(body["expires_in"], 3600);
            assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
        } else {
            unauthorized_bodies.push(body);
        }
    }
    // Unknown user, wrong password and inactive user look the same.
    assert!(unauthorized_bodies.windows(2).all(|pair| pair[0] == pair[1]), "{unauthorized_bodies:?}");

    // Audited: successes and failures, never the password.
    let failed = app.audit("action=login_failed").await;
    assert_eq!(failed["total"], 4);
    let reasons: Vec<&str> =
        failed["items"].as_array().unwrap().iter().map(|i| i["details"]["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.contains(&"inactive_user") && reasons.contains(&"unknown_user") && reasons.contains(&"wrong_password")
    );
    let all = app.audit("limit=100").await.to_string();
    assert!(!all.contains(USER_PASSWORD) && !all.contains("wrong-password") && !all.contains(ADMIN_PASSWORD));
    assert_eq!(app.audit("action=login").await["total"], 3);
}

#[tokio::test]
async fn login_form_edge_cases() {
    let app = TestApp::start().await;
    // Swagger UI's Authorize sends grant_type, scope and sometimes a Basic header for the client.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("Authorization", "Basic c3dhZ2dlcjo=")
        .form(&[("grant_type", "password"), ("username", "admin"), ("password", ADMIN_PASSWORD), ("scope", "aegis")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let bad_grant = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .form(&[("grant_type", "client_credentials"), ("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    expect_error(bad_grant, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let missing_password =
        app.client.post(app.url("/api/v1/auth/login")).form(&[("username", "admin")]).send().await.unwrap();
    expect_error(missing_password, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let json_body = app.send_json(Method::POST, "/api/v1/auth/login", None, &json!({"username": "admin"})).await;
    assert!(json_body.status().is_client_error());
    let body: Value = json_body.json().await.unwrap();
    assert!(body["detail"].is_string() && body["code"].is_string());
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let app = TestApp::start().await;
    app.create_user("bob", Role::Viewer).await;
    for attempt in 0..10 {
        let response = app.login("bob", "not-the-password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Locked: a wrong and then even the correct password are refused with Retry-After.
    for password in ["not-the-password", USER_PASSWORD] {
        let response = app.login("BOB", password).await;
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        expect_error(response, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    }
    // Other accounts are unaffected.
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    // Throttled attempts were not checked, so only the ten real failures are in the log.
    assert_eq!(app.audit("action=login_failed").await["total"], 10);
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[tokio::test]
async fn me_rejects_every_bad_token() {
    let app = TestApp::start().await;
    let user = app.create_user("carol", Role::RedLead).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |changes: Value| {
        let mut claims =
            json!({"sub": user.id, "exp": now + 600, "iat": now, "iss": "aegis", "aud": "aegis-api", "ver": 0});
        for (key, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(key);
            } else {
                claims[key] = value.clone();
            }
        }
        claims
    };
    let secret = TEST_SECRET.as_bytes();
    let good = sign(&claims(json!({})), Algorithm::HS256, secret);
    let broken_signature = format!("{}x", &good[..good.len() - 1]);
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let payload = URL_SAFE_NO_PAD.encode(claims(json!({"sub": "someone-else"})).to_string());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("garbage".into())),
        ("empty", Some(String::new())),
        ("alg none", Some(unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims(json!({}))))),
        ("alg nOnE", Some(unsigned(&json!({"alg": "nOnE"}), &claims(json!({}))))),
        ("another key", Some(sign(&claims(json!({})), Algorithm::HS256, b"another-key-another-key-another-key"))),
        ("HS512 with the right key", Some(sign(&claims(json!({})), Algorithm::HS512, secret))),
        ("expired", Some(sign(&claims(json!({"exp": now - 5, "iat": now - 100})), Algorithm::HS256, secret))),
        ("missing exp", Some(sign(&claims(json!({"exp": null})), Algorithm::HS256, secret))),
        ("future nbf", Some(sign(&claims(json!({"nbf": now + 600})), Algorithm::HS256, secret))),
        ("wrong iss", Some(sign(&claims(json!({"iss": "someone"})), Algorithm::HS256, secret))),
        ("wrong aud", Some(sign(&claims(json!({"aud": "aegis-download"})), Algorithm::HS256, secret))),
        (
            "unknown sub",
            Some(sign(&claims(json!({"sub": uuid::Uuid::new_v4().to_string()})), Algorithm::HS256, secret)),
        ),
        ("missing version", Some(sign(&claims(json!({"ver": null})), Algorithm::HS256, secret))),
        ("stale version", Some(sign(&claims(json!({"ver": 7})), Algorithm::HS256, secret))),
        ("broken signature", Some(broken_signature)),
        ("tampered claims", Some(tampered)),
    ];
    for (name, token) in cases {
        let response = app.get("/api/v1/auth/me", token.as_deref()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
        expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    // A well-formed token still works after all that.
    let response = app.get("/api/v1/auth/me", Some(&good)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(
        (me["username"].as_str(), me["role"].as_str(), me["is_active"].as_bool()),
        (Some("carol"), Some("red_lead"), Some(true))
    );
    assert_eq!(me["id"], user.id.as_str());
    assert!(me.get("password_hash").is_none());
}

#[tokio::test]
async fn old_tokens_die_on_deactivation_role_change_and_password_change() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    // (change, whether a token issued after the change works)
    let changes = [
        (json!({"is_active": false}), false),
        (json!({"role": "viewer"}), true),
        (json!({"password": "a-brand-new-password"}), true),
    ];
    for (index, (change, new_token_works)) in changes.into_iter().enumerate() {
        let username = format!("user{index}");
        let user = app.create_user(&username, Role::RedTech).await;
        let old = app.login_token(&username, USER_PASSWORD).await;
        assert_eq!(app.get("/api/v1/auth/me", Some(&old)).await.status(), StatusCode::OK);

        let path = format!("/api/v1/users/{}", user.id);
        assert_eq!(app.send_json(Method::PATCH, &path, Some(&admin), &change).await.status(), StatusCode::OK);

        assert_eq!(app.get("/api/v1/auth/me", Some(&old)).await.status(), StatusCode::UNAUTHORIZED, "{change}");
        let new = app.token_of(&username).await;
        let expected = if new_token_works { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
        assert_eq!(app.get("/api/v1/auth/me", Some(&new)).await.status(), expected, "{change}");
    }
    // An email change alone leaves sessions alone.
    let user = app.create_user("dave", Role::Viewer).await;
    let token = app.login_token("dave", USER_PASSWORD).await;
    let path = format!("/api/v1/users/{}", user.id);
    app.send_json(Method::PATCH, &path, Some(&admin), &json!({"email": "dave@example.com"})).await;
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), StatusCode::OK);
    // The new password logs in; the old one no longer does.
    assert_eq!(app.login("user2", "a-brand-new-password").await.status(), StatusCode::OK);
    assert_eq!(app.login("user2", USER_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}
