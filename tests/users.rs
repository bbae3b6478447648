//! `/users`: the role table, validation, conflicts, the last-admin guard and auditing.

mod common;

use aegis::auth::Role;
use common::{TestApp, USER_PASSWORD, expect_error, roles_except};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn only_admins_reach_the_users_endpoints() {
    let app = TestApp::start().await;
    let target = app.create_user("target", Role::Viewer).await;
    let patch_path = format!("/api/v1/users/{}", target.id);
    let endpoints: [(Method, &str, Value); 3] = [
        (Method::GET, "/api/v1/users", Value::Null),
        (Method::POST, "/api/v1/users", json!({"username": "new1", "password": "password123", "role": "viewer"})),
        (Method::PATCH, &patch_path, json!({"email": "t@example.com"})),
    ];
    for (method, path, body) in &endpoints {
        let anonymous = app.request(method.clone(), path, None).json(body).send().await.unwrap();
        expect_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        for role in roles_except(&[Role::Admin]) {
            let token = app.token_for(role).await;
            let response = app.request(method.clone(), path, Some(&token)).json(body).send().await.unwrap();
            expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
    }
    // Nothing was changed by the refused requests.
    let admin = app.admin_token().await;
    let users: Value = app.get("/api/v1/users", Some(&admin)).await.json().await.unwrap();
    assert!(users.as_array().unwrap().iter().all(|u| u["username"] != "new1"));
    assert!(users.as_array().unwrap().iter().any(|u| u["username"] == "target" && u["email"].is_null()));
    assert_eq!(app.audit("action=update_user").await["total"], 0);
}

#[tokio::test]
async fn admin_creates_lists_and_updates_users() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;

    let response = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            &json!({"username": "newuser", "email": "user@example.com", "password": "securepassword", "role": "red_tech", "unknown_field": 1}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["username"], "newuser");
    assert_eq!(created["email"], "user@example.com");
    assert_eq!(created["role"], "red_tech");
    assert_eq!(created["is_active"], true);
    assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let listed: Value = app.get("/api/v1/users", Some(&admin)).await.json().await.unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "newuser"]);
    assert!(!listed.to_string().contains("argon2"), "no hash in the list");

    let path = format!("/api/v1/users/{}", created["id"].as_str().unwrap());
    let response = app
        .send_json(
            Method::PATCH,
            &path,
            Some(&admin),
            &json!({"email": "new@email.com", "role": "blue_tech", "is_active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(
        (updated["email"].as_str(), updated["role"].as_str(), updated["is_active"].as_bool()),
        (Some("new@email.com"), Some("blue_tech"), Some(false))
    );

    // null clears the email; an absent field leaves it.
    let cleared: Value =
        app.send_json(Method::PATCH, &path, Some(&admin), &json!({"email": null})).await.json().await.unwrap();
    assert!(cleared["email"].is_null());
    assert_eq!(cleared["role"], "blue_tech");

    // Audited in the same transaction, with what changed and never the password.
    app.send_json(Method::PATCH, &path, Some(&admin), &json!({"password": "another-password"})).await;
    let audit = app.audit("entity_type=user&action=update_user").await;
    assert_eq!(audit["total"], 3);
    let newest = &audit["items"][0];
    assert_eq!(newest["details"]["changes"]["password_changed"], true);
    assert_eq!(newest["entity_id"], created["id"]);
    assert_eq!(newest["username"], "admin");
    assert!(!audit.to_string().contains("another-password"));
    let creation = app.audit("action=create_user").await;
    assert!(
        creation["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["entity_id"] == created["id"] && i["details"]["role"] == "red_tech")
    );
}

#[tokio::test]
async fn invalid_input_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let good = json!({"username": "valid", "password": "password123", "role": "viewer"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let bad_bodies = [
        with("role", json!("boss")),
        with("role", json!("Admin")),
        with("email", json!("not-an-email")),
        with("email", json!("a@b")),
        with("password", json!("short")),
        with("username", json!("")),
        with("username", json!("has space")),
        with("username", json!(["array"])),
        with("username", json!(42)),
        with("password", json!(12345678)),
        json!({"username": "valid", "role": "viewer"}),
        json!([]),
    ];
    for body in bad_bodies {
        let response = app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let malformed = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    expect_error(malformed, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let target = app.create_user("target", Role::Viewer).await;
    let path = format!("/api/v1/users/{}", target.id);
    for body in
        [json!({"role": "boss"}), json!({"email": "nope"}), json!({"password": "1234567"}), json!({"is_active": "yes"})]
    {
        let response = app.send_json(Method::PATCH, &path, Some(&admin), &body).await;
        expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    }
    let response = app.send_json(Method::PATCH, "/api/v1/users/not-a-uuid", Some(&admin), &json!({})).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let unknown = format!("/api/v1/users/{}", uuid::Uuid::new_v4());
    let response = app.send_json(Method::PATCH, &unknown, Some(&admin), &json!({"role": "viewer"})).await;
    expect_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let users: Value = app.get("/api/v1/users", Some(&admin)).await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    assert_eq!(app.audit("action=update_user").await["total"], 0);
    assert_eq!(app.audit("action=create_user").await["total"], 2, "admin and target only");
    // The target's password was not changed by the refused patch.
    assert_eq!(app.login("target", USER_PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn duplicate_usernames_conflict_regardless_of_case() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let body = |name: &str| json!({"username": name, "password": "password123", "role": "viewer"});
    assert_eq!(
        app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body("eve")).await.status(),
        StatusCode::CREATED
    );
    for name in ["eve", "EVE", "admin"] {
        let response = app.send_json(Method::POST, "/api/v1/users", Some(&admin), &body(name)).await;
        expect_error(response, StatusCode::CONFLICT, "CONFLICT").await;
    }
    assert_eq!(app.audit("action=create_user").await["total"], 2);
}

#[tokio::test]
async fn the_last_active_admin_stays() {
    let app = TestApp::start().await;
    let admin_token = app.admin_token().await;
    let me: Value = app.get("/api/v1/auth/me", Some(&admin_token)).await.json().await.unwrap();
    let admin_path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());

    for change in [json!({"is_active": false}), json!({"role": "viewer"})] {
        let response = app.send_json(Method::PATCH, &admin_path, Some(&admin_token), &change).await;
        expect_error(response, StatusCode::CONFLICT, "CONFLICT").await;
    }
    // With a second admin the first can step down; then the second is the last.
    let second = app.create_user("second-admin", Role::Admin).await;
    let response = app.send_json(Method::PATCH, &admin_path, Some(&admin_token), &json!({"role": "viewer"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second_token = app.token_of("second-admin").await;
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", second.id),
            Some(&second_token),
            &json!({"is_active": false}),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "CONFLICT").await;
    // Deactivated admins do not count.
    let third = app.create_user("third-admin", Role::Admin).await;
    let path = format!("/api/v1/users/{}", third.id);
    assert_eq!(
        app.send_json(Method::PATCH, &path, Some(&second_token), &json!({"is_active": false})).await.status(),
        StatusCode::OK
    );
    let response = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", second.id),
            Some(&second_token),
            &json!({"role": "red_lead"}),
        )
        .await;
    expect_error(response, StatusCode::CONFLICT, "CONFLICT").await;
}
