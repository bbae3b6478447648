//! The HTTP surface as a whole: the error shape for the framework's own errors, body limits,
//! security headers, health, and the API docs (Swagger UI, ReDoc, the OpenAPI document).

mod common;

use common::{TestApp, expect_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn health_needs_no_token() {
    let app = TestApp::start().await;
    let response = app.get("/api/v1/health", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}));
}

#[tokio::test]
async fn framework_errors_have_the_error_shape() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    expect_error(app.get("/api/v1/no-such-thing", Some(&admin)).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    expect_error(app.get("/static/no-such-file.js", None).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let response = app.request(Method::DELETE, "/api/v1/health", None).send().await.unwrap();
    expect_error(response, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    let response = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
    let response = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let response = app
        .request(Method::POST, "/api/v1/users", Some(&admin))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn json_bodies_are_capped_at_one_mebibyte() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let huge = json!({"username": "x".repeat(1024 * 1024 + 10), "password": "password123", "role": "viewer"});
    let response = app.send_json(Method::POST, "/api/v1/users", Some(&admin), &huge).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // The same without Content-Length: a chunked body is counted while it streams.
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..20 {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // the server may answer and close before the whole body is sent
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");

    let users: Value = app.get("/api/v1/users", Some(&admin)).await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1, "nothing was created");
}

#[tokio::test]
async fn docs_are_served() {
    let app = TestApp::start().await;
    for (path, needle) in [("/docs", "swagger"), ("/redoc", "redoc")] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = response.text().await.unwrap().to_lowercase();
        assert!(html.contains(needle), "{path}");
    }
    // The UI at `/`, and its own routes, are the embedded app.
    for path in ["/", "/matrix", "/techniques/T1059", "/techniques/T1059.001", "/tests/x/y.z"] {
        let page = app.get(path, None).await;
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
        assert!(page.text().await.unwrap().contains("/static/app.js"));
    }
    let script = app.get("/static/app.js", None).await;
    let etag = script.headers()["etag"].to_str().unwrap().to_owned();
    let again = app.client.get(app.url("/static/app.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn every_operation_is_documented() {
    let app = TestApp::start().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));

    let flow = &spec["components"]["securitySchemes"]["OAuth2Password"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/api/v1/auth/login", "Swagger UI's Authorize logs in here");
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());

    let public = ["/api/v1/health", "/api/v1/auth/login", "/api/v1/evidence/{id}/download"];
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{method} {path}");
            assert!(operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()), "{name} has a tag");
            assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{name} has a summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{name} documents 500");
            if public.contains(&path.as_str()) {
                assert!(operation.get("security").is_none(), "{name} is public");
            } else {
                assert!(operation["security"].as_array().is_some_and(|s| !s.is_empty()), "{name} has security");
                for status in ["401", "403"] {
                    let documented = responses.contains_key(status);
                    let expected = status == "401" || path != "/api/v1/auth/me";
                    assert_eq!(documented, expected, "{name} documents {status}");
                }
            }
        }
    }
    assert!(operations >= 9, "{operations} operations");
    assert!(spec["paths"]["/api/v1/auth/login"]["post"]["responses"].as_object().unwrap().contains_key("429"));
    assert!(spec["paths"]["/api/v1/users"]["post"]["responses"].as_object().unwrap().contains_key("409"));
    assert!(spec["paths"]["/api/v1/users"]["post"]["responses"].as_object().unwrap().contains_key("201"));
}

#[tokio::test]
async fn security_headers_everywhere() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    for (path, token) in [
        ("/api/v1/health", None),
        ("/api/v1/techniques", Some(admin.as_str())),
        ("/api/v1/nope", None),
        ("/openapi.json", None),
        ("/docs", None),
        ("/redoc", None),
    ] {
        let response = app.get(path, token).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(headers.get("server").is_none(), "{path}: no Server header");
        assert_eq!(headers["x-request-id"].len(), 32, "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/docs" || path == "/redoc" {
            let scripts = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap();
            assert!(scripts.contains("'sha256-") && !scripts.contains("unsafe"), "{path}: {csp}");
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
    }
    // A sane incoming request id is kept; anything else is replaced.
    let kept = app.client.get(app.url("/api/v1/health")).header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-42");
    let replaced = app.client.get(app.url("/api/v1/health")).header("x-request-id", "a b\tc").send().await.unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "a b\tc");
    // CORS is off by default: no cross-origin grant.
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/techniques"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_allows_only_the_listed_origins() {
    let app =
        TestApp::start_with(|settings| settings.cors_origins = "https://aegis.example, https://soc.example/".into())
            .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/techniques"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    for origin in ["https://aegis.example", "https://soc.example"] {
        let response = preflight(origin).await.unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], origin);
        assert!(response.headers().get("access-control-allow-credentials").is_none());
    }
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}
