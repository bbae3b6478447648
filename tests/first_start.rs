//! First start and restarts: the data dir, the signing key, the first admin, migrations.

mod common;

use aegis::app;
use aegis::config::Config;
use common::{ADMIN_PASSWORD, TestApp, default_settings};
use reqwest::StatusCode;

#[tokio::test]
async fn first_start_without_admin_password_generates_one() {
    let app = TestApp::start_with(|settings| {
        settings.admin_password = None;
        settings.jwt_secret = None;
    })
    .await;
    let password = app.generated_admin_password.clone().expect("a generated password");
    assert!(password.len() >= 16);
    let token = app.login_token("admin", &password).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = std::fs::metadata(app.data_dir.join("secret.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600, "secret.key is private");
        let dir = std::fs::metadata(&app.data_dir).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700, "the data dir is private");
    }
    let key_before = std::fs::read(app.data_dir.join("secret.key")).unwrap();

    // A restart keeps the admin, the key (so tokens survive) and prints no new password.
    let app = app.restart().await;
    assert_eq!(app.generated_admin_password, None);
    assert_eq!(std::fs::read(app.data_dir.join("secret.key")).unwrap(), key_before);
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(app.login("admin", &password).await.status(), StatusCode::OK);
    let creations = app.audit("action=create_user").await;
    assert_eq!(creations["total"], 1, "one admin, created once");
    assert_eq!(creations["items"][0]["username"], "system");
}

#[tokio::test]
async fn first_start_with_admin_password_uses_it() {
    let app = TestApp::start_with(|settings| settings.jwt_secret = None).await;
    assert_eq!(app.generated_admin_password, None);
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    // A changed AEGIS_ADMIN_PASSWORD on a later start does not reset the existing admin.
    let mut app = app;
    app.settings.admin_password = Some("a-different-password".into());
    let app = app.restart().await;
    assert_eq!(app.login("admin", ADMIN_PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(app.login("admin", "a-different-password").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn jwt_secret_from_the_environment_signs_tokens() {
    let app = TestApp::start().await;
    assert!(!app.data_dir.join("secret.key").exists(), "no key file when the secret is configured");
    let token = app.login_token("admin", ADMIN_PASSWORD).await;
    // Another server with the same secret accepts the token (and its user); with another, not.
    let app = app.restart().await;
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), StatusCode::OK);
    let mut app = app;
    app.settings.jwt_secret = Some("a-completely-different-32-byte-secret".into());
    let app = app.restart().await;
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_settings_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = default_settings(dir.path().join("data"));
    settings.jwt_secret = Some("too-short".into());
    let err = Config::from_settings(&settings).unwrap_err().to_string();
    assert!(err.contains("at least 32 bytes"), "{err}");

    let mut settings = default_settings(dir.path().join("data"));
    settings.admin_password = Some("short".into());
    assert!(Config::from_settings(&settings).is_err());

    let mut settings = default_settings(dir.path().join("data"));
    settings.public_url = Some("ftp://example.com".into());
    assert!(Config::from_settings(&settings).is_err());
}

#[tokio::test]
async fn a_database_from_a_newer_aegis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = default_settings(dir.path().join("data"));
    let config = Config::from_settings(&settings).unwrap();
    let prepared = app::prepare(config.clone()).await.unwrap();
    prepared
        .state
        .db
        .write(|tx| Ok(tx.execute("INSERT INTO schema_migrations VALUES (999, 'future', '2099-01-01T00:00:00Z')", [])?))
        .await
        .unwrap();
    drop(prepared);
    let err = match app::prepare(config).await {
        Ok(_) => panic!("a newer database must be refused"),
        Err(err) => format!("{err:#}"),
    };
    assert!(err.contains("version 999") && err.contains("newer"), "{err}");
}

#[tokio::test]
async fn restarting_applies_no_migration_twice() {
    let app = TestApp::start().await;
    let count = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            db.read(|conn| {
                Ok(conn.query_row("SELECT COUNT(*), MAX(version) FROM schema_migrations", [], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                })?)
            })
            .await
            .unwrap()
        }
    };
    let before = count(&app).await;
    assert_eq!(before.1, aegis::db::migrations::latest_version());
    let app = app.restart().await;
    assert_eq!(count(&app).await, before);
    let journal: String =
        app.state.db.read(|conn| Ok(conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?)).await.unwrap();
    assert_eq!(journal, "wal");
    let foreign_keys: i64 =
        app.state.db.read(|conn| Ok(conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0))?)).await.unwrap();
    assert_eq!(foreign_keys, 1);
}
