//! Evidence through HTTP: who may upload, the round trip through a signed link, hostile file names,
//! download tokens, storage once by content and deletion, malformed uploads, size limits with and
//! without `Content-Length`, parallel uploads, and the real binary's memory while a 200 MB file
//! streams in and out.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aegis::auth::Role;
use common::{TestApp, expect_error};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1024 * 1024;

// ----- content --------------------------------------------------------------------------------

/// Deterministic bytes that do not compress (xorshift64*).
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let value = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
    }
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Noise::new(seed).fill(&mut bytes);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// RFC 5987 `attr-char` percent-encoding, written independently of the server's.
fn rfc5987(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

// ----- the data dir ---------------------------------------------------------------------------

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return files };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn evidence_dir(app: &TestApp) -> PathBuf {
    app.data_dir.join("evidence")
}

/// The stored blobs, by hash; asserts each lives at `evidence/<first two hex>/<sha256>`.
fn blobs(app: &TestApp) -> BTreeSet<String> {
    blobs_in(&evidence_dir(app))
}

fn blobs_in(evidence: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for path in files_under(evidence) {
        let relative = path.strip_prefix(evidence).unwrap();
        if relative.starts_with("tmp") {
            continue;
        }
        let parts: Vec<&str> = relative.iter().map(|part| part.to_str().unwrap()).collect();
        assert_eq!(parts.len(), 2, "a blob is evidence/<xx>/<sha256>: {}", path.display());
        let (dir, sha) = (parts[0], parts[1]);
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "blob named by its lowercase sha256: {}",
            path.display()
        );
        assert_eq!(dir, &sha[..2], "blob under its first two hex digits: {}", path.display());
        assert_eq!(sha256_hex(&std::fs::read(&path).unwrap()), sha, "blob content matches its name");
        found.insert(sha.to_owned());
    }
    found
}

fn tmp_files(app: &TestApp) -> Vec<PathBuf> {
    files_under(&evidence_dir(app).join("tmp"))
}

fn set_of(shas: &[&str]) -> BTreeSet<String> {
    shas.iter().map(|sha| (*sha).to_owned()).collect()
}

// ----- the API --------------------------------------------------------------------------------

async fn json_of(response: Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn technique_uuid(app: &TestApp, mitre_id: &str) -> String {
    let admin = app.admin_token().await;
    let technique = json_of(app.get(&format!("/api/v1/techniques/{mitre_id}"), Some(&admin)).await).await;
    technique["id"].as_str().unwrap().to_owned()
}

/// Creates a draft on T1059.001 as the holder of `token`; returns its id.
async fn create_test(app: &TestApp, token: &str, name: &str) -> String {
    let body = json!({"technique_id": technique_uuid(app, "T1059.001").await, "name": name,
                      "platform": "windows", "procedure_text": "powershell -enc ...", "tool_used": "manual"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(token), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let test = json_of(response).await;
    assert_eq!(test["state"], "draft");
    assert_eq!(test["evidences"], json!([]));
    test["id"].as_str().unwrap().to_owned()
}

async fn validate(app: &TestApp, test_id: &str) {
    let lead = app.token_for(Role::BlueLead).await;
    let body = json!({"result": "detected", "comments": "seen in the SIEM"});
    let response = app.send_json(Method::POST, &format!("/api/v1/tests/{test_id}/validate"), Some(&lead), &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_of(response).await["state"], "validated");
}

async fn evidences_of(app: &TestApp, test_id: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    let test = json_of(app.get(&format!("/api/v1/tests/{test_id}"), Some(&admin)).await).await;
    let evidences = test["evidences"].as_array().unwrap().clone();
    assert_eq!(test["evidence_count"], evidences.len(), "{test}");
    evidences
}

async fn upload_form(app: &TestApp, token: Option<&str>, test_id: &str, form: Form) -> Response {
    app.request(Method::POST, &format!("/api/v1/tests/{test_id}/evidence"), token).multipart(form).send().await.unwrap()
}

/// Uploads `bytes` as the multipart field `file`, as an ordinary client does.
async fn upload(app: &TestApp, token: Option<&str>, test_id: &str, file_name: &str, bytes: Vec<u8>) -> Response {
    let part = Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("application/octet-stream").unwrap();
    upload_form(app, token, test_id, Form::new().part("file", part)).await
}

async fn upload_ok(app: &TestApp, token: &str, test_id: &str, file_name: &str, bytes: &[u8]) -> Value {
    let response = upload(app, Some(token), test_id, file_name, bytes.to_vec()).await;
    assert_eq!(response.status(), StatusCode::CREATED, "upload of {file_name:?}");
    let evidence = json_of(response).await;
    assert_eq!(evidence["test_id"], test_id);
    assert_eq!(evidence["sha256_hash"], sha256_hex(bytes));
    assert_eq!(evidence["size_bytes"], bytes.len());
    evidence
}

/// The download link of `url` on this server: links are built on `public_url`, which need not be
/// where the test server listens, so the path and query are kept and sent to the server.
fn on_server(base: &str, public_url: &str, url: &str) -> String {
    let path = url.strip_prefix(public_url).unwrap_or_else(|| panic!("{url} is built on {public_url}"));
    assert!(path.starts_with("/api/v1/evidence/"), "{url}");
    format!("{base}{path}")
}

fn link(app: &TestApp, evidence: &Value) -> String {
    on_server(&app.base, &app.state.config.public_url, evidence["download_url"].as_str().unwrap())
}

/// The `token` of a download link.
fn token_of_link(url: &str) -> String {
    let (_, token) = url.split_once("?token=").unwrap_or_else(|| panic!("{url} has a token"));
    assert!(!token.contains('&'), "the token is the only parameter: {url}");
    token.to_owned()
}

/// Follows a download link with no bearer token.
async fn download(app: &TestApp, evidence: &Value) -> Response {
    app.client.get(link(app, evidence)).send().await.unwrap()
}

async fn download_bytes(app: &TestApp, evidence: &Value) -> Vec<u8> {
    let response = download(app, evidence).await;
    assert_eq!(response.status(), StatusCode::OK, "download of {}", evidence["id"]);
    response.bytes().await.unwrap().to_vec()
}

/// A fresh link for the evidence (`GET /evidence/{id}`).
async fn fresh(app: &TestApp, evidence_id: &str) -> Value {
    let admin = app.admin_token().await;
    let response = app.get(&format!("/api/v1/evidence/{evidence_id}"), Some(&admin)).await;
    assert_eq!(response.status(), StatusCode::OK);
    json_of(response).await
}

// ----- raw HTTP/1.1, for bodies reqwest cannot send here (chunked, streamed from a file) --------

const BOUNDARY: &str = "aegis-evidence-test-boundary-5f0c2e";

fn address_of(base: &str) -> &str {
    base.strip_prefix("http://").unwrap()
}

/// The head of an evidence upload; `content_length: None` sends the body chunked.
fn upload_head(address: &str, test_id: &str, token: &str, content_length: Option<u64>) -> String {
    let framing = match content_length {
        Some(length) => format!("Content-Length: {length}\r\n"),
        None => "Transfer-Encoding: chunked\r\n".to_owned(),
    };
    format!(
        "POST /api/v1/tests/{test_id}/evidence HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}Connection: close\r\n\r\n"
    )
}

/// The multipart framing before and after the bytes of the field `file`.
fn multipart_framing(file_name: &str) -> (Vec<u8>, Vec<u8>) {
    let before = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    (before.into_bytes(), format!("\r\n--{BOUNDARY}--\r\n").into_bytes())
}

/// Where a response with a `Content-Length` ends, once all of it has arrived.
fn response_end(received: &[u8]) -> Option<usize> {
    let head_end = received.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head.lines().find_map(|line| line.strip_prefix("content-length:"))?.trim().parse().ok()?;
    (received.len() >= head_end + length).then_some(head_end + length)
}

/// Reads one response: up to its `Content-Length`, or to the end of the connection.
async fn read_response(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if let Some(end) = response_end(&received) {
            received.truncate(end);
            return received;
        }
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return received,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Sends `head` and then `body` (chunk-framed when `chunked`) while reading the response, and stops
/// writing as soon as the server has answered (it may answer before the body is all sent).
/// Returns the response as text.
async fn raw_exchange(address: &str, head: String, body: impl AsyncRead + Unpin, chunked: bool) -> String {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (reader, mut writer) = stream.into_split();
        let mut response = tokio::spawn(read_response(reader));
        let send = async move {
            let mut body = body;
            writer.write_all(head.as_bytes()).await?;
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let read = body.read(&mut buffer).await?;
                if read == 0 {
                    break;
                }
                if chunked {
                    writer.write_all(format!("{read:x}\r\n").as_bytes()).await?;
                    writer.write_all(&buffer[..read]).await?;
                    writer.write_all(b"\r\n").await?;
                } else {
                    writer.write_all(&buffer[..read]).await?;
                }
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n").await?;
            }
            writer.flush().await?;
            // Kept open until the response is in: a half-closed connection may be dropped.
            Ok::<_, std::io::Error>(writer)
        };
        tokio::pin!(send);
        let bytes = tokio::select! {
            sent = &mut send => {
                let _writer = sent.ok();
                (&mut response).await.unwrap()
            }
            received = &mut response => received.unwrap(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(120), exchange).await.expect("the server answers within 120 s")
}

/// The JSON body of a raw response.
fn raw_json(response: &str) -> Value {
    let (_, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a complete response: {response}"));
    serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON body: {response}"))
}

// ----- 1. who may upload ----------------------------------------------------------------------

#[tokio::test]
async fn only_permitted_roles_upload_and_refusals_store_nothing() {
    let app = TestApp::start().await;
    app.create_user("owner", Role::RedTech).await;
    let owner = app.token_of("owner").await;
    let cases: Vec<(&str, Option<String>, StatusCode, Option<&str>)> = vec![
        ("anonymous", None, StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")),
        ("viewer", Some(app.token_for(Role::Viewer).await), StatusCode::FORBIDDEN, Some("FORBIDDEN")),
        ("another red_tech", Some(app.token_for(Role::RedTech).await), StatusCode::FORBIDDEN, Some("FORBIDDEN")),
        ("the owning red_tech", Some(owner.clone()), StatusCode::CREATED, None),
        ("red_lead", Some(app.token_for(Role::RedLead).await), StatusCode::CREATED, None),
        ("blue_lead", Some(app.token_for(Role::BlueLead).await), StatusCode::CREATED, None),
        ("blue_tech", Some(app.token_for(Role::BlueTech).await), StatusCode::CREATED, None),
        ("admin", Some(app.admin_token().await), StatusCode::CREATED, None),
    ];
    for (i, (who, token, status, code)) in cases.into_iter().enumerate() {
        let test_id = create_test(&app, &owner, &format!("uploads by {who}")).await;
        let before = blobs(&app);
        let content = noise(100 + i as u64, 4096 + i);
        let response = upload(&app, token.as_deref(), &test_id, "shot.png", content.clone()).await;
        if let Some(code) = code {
            expect_error(response, status, code).await;
            assert_eq!(blobs(&app), before, "{who}: nothing stored");
            assert!(evidences_of(&app, &test_id).await.is_empty(), "{who}: nothing recorded");
        } else {
            assert_eq!(response.status(), status, "{who}");
            let evidence = json_of(response).await;
            let me = json_of(app.get("/api/v1/auth/me", token.as_deref()).await).await;
            assert_eq!(evidence["uploaded_by"], me["id"], "{who}");
            assert_eq!(evidence["uploaded_by_username"], me["username"], "{who}");
            assert_eq!(evidence["sha256_hash"], sha256_hex(&content), "{who}");
            let mut expected = before.clone();
            expected.insert(sha256_hex(&content));
            assert_eq!(blobs(&app), expected, "{who}: one new blob");
            let listed = evidences_of(&app, &test_id).await;
            assert_eq!(listed.len(), 1, "{who}");
            assert_eq!(listed[0]["id"], evidence["id"], "{who}");
        }
        assert!(tmp_files(&app).is_empty(), "{who}: nothing left in tmp/");
    }
    assert_eq!(blobs(&app).len(), 5);
}

// ----- 2. round trip --------------------------------------------------------------------------

#[tokio::test]
async fn an_upload_downloads_byte_for_byte_through_its_link() {
    // Links are built on the public URL (trailing slash dropped), not on the address it listens on.
    let app = TestApp::start_with(|settings| settings.public_url = Some("https://aegis.example.test/".into())).await;
    app.create_user("analyst", Role::BlueTech).await;
    let analyst = app.token_of("analyst").await;
    let owner = app.token_for(Role::RedTech).await;
    let test_id = create_test(&app, &owner, "round trip").await;
    let content = noise(2, 300 * 1024 + 7);
    let sha = hex::encode(Sha256::digest(&content));

    let part = Part::bytes(content.clone()).file_name("capture.pcap").mime_str("application/vnd.tcpdump.pcap").unwrap();
    let response = upload_form(&app, Some(&analyst), &test_id, Form::new().part("file", part)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let evidence = json_of(response).await;
    let id = evidence["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{evidence}");
    let me = json_of(app.get("/api/v1/auth/me", Some(&analyst)).await).await;
    assert_eq!(evidence["test_id"], test_id);
    assert_eq!(evidence["file_name"], "capture.pcap");
    assert_eq!(evidence["sha256_hash"], sha);
    assert_eq!(evidence["size_bytes"], content.len());
    assert_eq!(evidence["content_type"], "application/vnd.tcpdump.pcap");
    assert_eq!(evidence["uploaded_by"], me["id"]);
    assert_eq!(evidence["uploaded_by_username"], "analyst");
    assert!(chrono::DateTime::parse_from_rfc3339(evidence["uploaded_at"].as_str().unwrap()).is_ok(), "{evidence}");
    let url = evidence["download_url"].as_str().unwrap();
    let prefix = format!("https://aegis.example.test/api/v1/evidence/{id}/download?token=");
    assert!(url.starts_with(&prefix), "{url}");
    let fields: BTreeSet<&str> = evidence.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "id",
            "test_id",
            "file_name",
            "sha256_hash",
            "size_bytes",
            "content_type",
            "uploaded_by",
            "uploaded_by_username",
            "uploaded_at",
            "download_url"
        ])
    );

    // No Authorization header on the download.
    let response = download(&app, &evidence).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let header = |name: &str| headers.get(name).map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(header("content-length"), Some(content.len().to_string()));
    assert_eq!(header("content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(
        header("content-disposition").as_deref(),
        Some("attachment; filename=\"capture.pcap\"; filename*=UTF-8''capture.pcap")
    );
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header("content-security-policy").as_deref(), Some("sandbox"));
    assert_eq!(header("cache-control").as_deref(), Some("private, no-store"));
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), content.len());
    assert!(body[..] == content[..], "the bytes come back unchanged");
    assert_eq!(blobs(&app), set_of(&[&sha]));
    assert_eq!(std::fs::read(evidence_dir(&app).join(&sha[..2]).join(&sha)).unwrap(), content);

    // The metadata, and the test, hand out fresh links that work too.
    let again = fresh(&app, id).await;
    for field in ["id", "test_id", "file_name", "sha256_hash", "size_bytes", "content_type", "uploaded_by"] {
        assert_eq!(again[field], evidence[field], "{field}");
    }
    assert!(again["download_url"].as_str().unwrap().starts_with(&prefix));
    assert!(download_bytes(&app, &again).await == content);
    let listed = evidences_of(&app, &test_id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert!(download_bytes(&app, &listed[0]).await == content);

    let audit = app.audit("action=upload_evidence").await;
    assert_eq!(audit["total"], 1, "{audit}");
    let row = &audit["items"][0];
    assert_eq!(row["entity_type"], "evidence");
    assert_eq!(row["entity_id"], id);
    assert_eq!(row["username"], "analyst");
    assert_eq!(row["details"]["sha256"], sha);
    assert_eq!(row["details"]["size_bytes"], content.len());
    assert_eq!(row["details"]["test_id"], test_id);
}

// ----- 3. hostile file names ------------------------------------------------------------------

#[tokio::test]
async fn hostile_file_names_are_metadata_only() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let test_id = create_test(&app, &admin, "hostile names").await;
    let long = format!("{}.txt", "n".repeat(296));
    let unicode = "отчёт 📸.png";
    // (name sent by the client, the name kept)
    let table: [(&str, &str); 8] = [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a\"\tSet-Cookie: x", "a\"Set-Cookie: x"),
        (long.as_str(), &long[..200]),
        ("CON", "CON"),
        (unicode, unicode),
        ("a%0D%0ASet-Cookie:%20x", "a%0D%0ASet-Cookie:%20x"),
        ("..", "evidence"),
    ];
    let mut shas = BTreeSet::new();
    let mut kept_names = Vec::new();
    for (i, (sent, kept)) in table.into_iter().enumerate() {
        let content = noise(300 + i as u64, 1000 + i);
        let evidence = upload_ok(&app, &admin, &test_id, sent, &content).await;
        assert_eq!(evidence["file_name"], kept, "{sent:?}");
        assert!(kept.chars().count() <= 200);
        assert_eq!(fresh(&app, evidence["id"].as_str().unwrap()).await["file_name"], kept, "{sent:?}");

        let response = download(&app, &evidence).await;
        assert_eq!(response.status(), StatusCode::OK, "{sent:?}");
        assert!(response.headers().get("set-cookie").is_none(), "{sent:?}");
        let dispositions: Vec<_> = response.headers().get_all("content-disposition").iter().collect();
        assert_eq!(dispositions.len(), 1, "{sent:?}");
        let disposition = dispositions[0].to_str().unwrap().to_owned();
        let fallback: String = kept
            .chars()
            .map(|c| if c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\') { c } else { '_' })
            .collect();
        assert_eq!(
            disposition,
            format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", rfc5987(kept)),
            "{sent:?}"
        );
        assert!(response.bytes().await.unwrap()[..] == content[..], "{sent:?}");
        shas.insert(sha256_hex(&content));
        kept_names.push(kept.to_owned());
    }
    let cases = table.len();
    assert_eq!(
        rfc5987(unicode),
        "%D0%BE%D1%82%D1%87%D1%91%D1%82%20%F0%9F%93%B8.png",
        "the exact Unicode name is sent as filename*"
    );

    // A CR LF cannot reach the stored name. Sent as an ordinary client escapes it (a backslash before
    // the CR and before the LF), the part header has a bare CR: a malformed body, nothing stored.
    let crlf = "a\"\r\nSet-Cookie: x";
    let response = upload(&app, Some(&admin), &test_id, crlf, noise(399, 999)).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    // Sent raw, the CR LF ends the header line: the quoted name is left unterminated (so no name
    // is taken, `evidence`) and `Set-Cookie: x"` is only a header of the part.
    let (before, after) = multipart_framing("a\\\"\r\nSet-Cookie: x");
    let body = [before, b"raw CR LF".to_vec(), after].concat();
    let response = app
        .request(Method::POST, &format!("/api/v1/tests/{test_id}/evidence"), Some(&admin))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let evidence = json_of(response).await;
    assert_eq!(evidence["file_name"], "evidence");
    let response = download(&app, &evidence).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    let dispositions: Vec<_> = response.headers().get_all("content-disposition").iter().collect();
    assert_eq!(dispositions, ["attachment; filename=\"evidence\"; filename*=UTF-8''evidence"]);
    assert_eq!(response.bytes().await.unwrap(), &b"raw CR LF"[..]);
    shas.insert(sha256_hex(b"raw CR LF"));

    // Every blob is content-addressed; nothing anywhere is named after what the client sent.
    assert_eq!(blobs(&app), shas);
    assert!(shas.len() > cases);
    assert!(tmp_files(&app).is_empty());
    let root = app.data_dir.parent().unwrap();
    for path in files_under(root) {
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let shown = path.display();
        assert!(!kept_names.contains(&file_name), "{shown} is named after a client file name");
        assert!(!file_name.contains("passwd") && !file_name.contains("win.ini"), "{shown}");
        assert!(!file_name.contains("Set-Cookie") && file_name != "CON", "{shown}");
    }
}

// ----- 4. download tokens ---------------------------------------------------------------------

#[tokio::test]
async fn download_links_are_signed_bound_and_not_bearer_tokens() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let test_id = create_test(&app, &admin, "tokens").await;
    let (content_a, content_b) = (noise(41, 5000), noise(42, 6000));
    let a = upload_ok(&app, &admin, &test_id, "a.bin", &content_a).await;
    let b = upload_ok(&app, &admin, &test_id, "b.bin", &content_b).await;
    let (id_a, id_b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let token_a = token_of_link(a["download_url"].as_str().unwrap());
    let (expiry, signature) = token_a.split_once('.').unwrap();
    let expiry: i64 = expiry.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(expiry > now && expiry <= now + 300 + 5, "expires after the configured 300 s: {token_a}");
    assert!(signature.len() == 64 && hex::decode(signature).is_ok(), "{token_a}");
    let flipped = {
        let mut bytes = token_a.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };

    let path = |id: &str| format!("/api/v1/evidence/{id}/download");
    // (case, path and query, bearer sent along)
    let table: Vec<(&str, String, Option<&str>)> = vec![
        ("tampered signature", format!("{}?token={flipped}", path(id_a)), None),
        ("truncated signature", format!("{}?token={}", path(id_a), &token_a[..token_a.len() - 2]), None),
        ("tampered expiry", format!("{}?token={}.{signature}", path(id_a), expiry + 3600), None),
        ("expiry without a signature", format!("{}?token={expiry}", path(id_a)), None),
        ("token of A used for B", format!("{}?token={token_a}", path(id_b)), None),
        ("token of A for B, with a bearer", format!("{}?token={token_a}", path(id_b)), Some(&admin)),
        ("garbage", format!("{}?token=garbage", path(id_a)), None),
        ("garbage with a dot", format!("{}?token=abc.xyz", path(id_a)), None),
        ("empty", format!("{}?token=", path(id_a)), None),
        ("a bearer JWT as the token", format!("{}?token={admin}", path(id_a)), None),
        ("a past expiry", format!("{}?token={}.{signature}", path(id_a), now - 10), None),
    ];
    for (case, path_and_query, bearer) in table {
        let response = app.get(&path_and_query, bearer).await;
        let body = expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        assert!(!body.to_string().contains(&token_a), "{case}: the token is not echoed");
    }

    // No token at all: refused with the error shape (400 from the framework, or 403).
    for bearer in [None, Some(admin.as_str())] {
        let response = app.get(&path(id_a), bearer).await;
        match response.status() {
            StatusCode::BAD_REQUEST => expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await,
            _ => expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await,
        };
    }

    // A download token is not a bearer token.
    for api_path in
        ["/api/v1/auth/me".to_owned(), format!("/api/v1/evidence/{id_a}"), format!("/api/v1/tests/{test_id}")]
    {
        let response = app.get(&api_path, Some(&token_a)).await;
        expect_error(response, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }

    // After all of that the real links still work.
    assert!(download_bytes(&app, &a).await == content_a);
    assert!(download_bytes(&app, &b).await == content_b);
    let unknown = uuid::Uuid::new_v4();
    let response = app.get(&format!("{}?token={token_a}", path(&unknown.to_string())), None).await;
    expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
}

#[tokio::test]
async fn an_expired_download_link_is_refused() {
    let app = TestApp::start_with(|settings| settings.download_ttl_seconds = 1).await;
    let admin = app.admin_token().await;
    let test_id = create_test(&app, &admin, "expiry").await;
    let content = noise(7, 2048);
    let evidence = upload_ok(&app, &admin, &test_id, "short-lived.txt", &content).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    expect_error(download(&app, &evidence).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // It was the time: a link fresh from the metadata works at once. With a 1 s lifetime counted in
    // whole seconds a link can expire within milliseconds, so a few fresh ones are tried.
    let mut worked = false;
    for _ in 0..5 {
        let again = fresh(&app, evidence["id"].as_str().unwrap()).await;
        let response = download(&app, &again).await;
        if response.status() == StatusCode::OK {
            assert!(response.bytes().await.unwrap()[..] == content[..]);
            worked = true;
            break;
        }
        expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    assert!(worked, "a fresh link downloads");
}

// ----- 5. stored once, deleted when unreferenced ----------------------------------------------

#[tokio::test]
async fn identical_content_is_stored_once_and_removed_with_its_last_evidence() {
    let app = TestApp::start().await;
    app.create_user("owner", Role::RedTech).await;
    let owner = app.token_of("owner").await;
    let blue = app.token_for(Role::BlueTech).await;
    let admin = app.admin_token().await;
    let first_test = create_test(&app, &owner, "first").await;
    let second_test = create_test(&app, &owner, "second").await;
    let content = noise(5, 70 * 1024);
    let sha = sha256_hex(&content);

    let first = upload_ok(&app, &owner, &first_test, "same.bin", &content).await;
    let second = upload_ok(&app, &blue, &second_test, "same-again.bin", &content).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(first["sha256_hash"], second["sha256_hash"]);
    assert_eq!(blobs(&app), set_of(&[&sha]), "one blob for both");
    assert_eq!(evidences_of(&app, &first_test).await.len(), 1);
    assert_eq!(evidences_of(&app, &second_test).await.len(), 1);
    let (first_id, second_id) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());

    // Only the uploader or an admin deletes.
    for (who, token, status, code) in [
        ("anonymous", None, StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ("viewer", Some(app.token_for(Role::Viewer).await), StatusCode::FORBIDDEN, "FORBIDDEN"),
        ("another red_tech", Some(app.token_for(Role::RedTech).await), StatusCode::FORBIDDEN, "FORBIDDEN"),
        ("red_lead", Some(app.token_for(Role::RedLead).await), StatusCode::FORBIDDEN, "FORBIDDEN"),
        ("the uploader of the twin", Some(blue.clone()), StatusCode::FORBIDDEN, "FORBIDDEN"),
    ] {
        let response = app.request(Method::DELETE, &format!("/api/v1/evidence/{first_id}"), token.as_deref()).send();
        expect_error(response.await.unwrap(), status, code).await;
        assert_eq!(blobs(&app), set_of(&[&sha]), "{who}");
    }
    let response = app.request(Method::DELETE, &format!("/api/v1/evidence/{}", uuid::Uuid::new_v4()), Some(&admin));
    expect_error(response.send().await.unwrap(), StatusCode::NOT_FOUND, "NOT_FOUND").await;

    // Deleting one keeps the blob for the other.
    let response = app.request(Method::DELETE, &format!("/api/v1/evidence/{first_id}"), Some(&owner)).send().await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    expect_error(
        app.get(&format!("/api/v1/evidence/{first_id}"), Some(&admin)).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    expect_error(download(&app, &first).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(evidences_of(&app, &first_test).await.is_empty());
    assert_eq!(blobs(&app), set_of(&[&sha]), "still referenced");
    assert!(download_bytes(&app, &second).await == content);

    // Deleting the last removes it.
    let response = app.request(Method::DELETE, &format!("/api/v1/evidence/{second_id}"), Some(&admin)).send().await;
    assert_eq!(response.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(blobs(&app).is_empty(), "the last reference is gone");
    assert!(files_under(&evidence_dir(&app)).is_empty());

    // The same content can come back afterwards.
    let again = upload_ok(&app, &owner, &first_test, "same.bin", &content).await;
    assert_eq!(blobs(&app), set_of(&[&sha]));
    assert!(download_bytes(&app, &again).await == content);

    // The evidence of a validated test is kept, even from an admin.
    let judged_test = create_test(&app, &owner, "judged").await;
    let kept_content = noise(6, 1234);
    let kept = upload_ok(&app, &owner, &judged_test, "kept.log", &kept_content).await;
    validate(&app, &judged_test).await;
    for token in [&owner, &admin] {
        let response =
            app.request(Method::DELETE, &format!("/api/v1/evidence/{}", kept["id"].as_str().unwrap()), Some(token));
        expect_error(response.send().await.unwrap(), StatusCode::CONFLICT, "INVALID_STATE").await;
    }
    assert_eq!(blobs(&app), set_of(&[&sha, &sha256_hex(&kept_content)]));
    assert!(download_bytes(&app, &kept).await == kept_content);

    let audit = app.audit("action=delete_evidence").await;
    assert_eq!(audit["total"], 2, "{audit}");
}

// ----- 6. malformed uploads -------------------------------------------------------------------

#[tokio::test]
async fn malformed_uploads_are_refused_and_store_nothing() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let test_id = create_test(&app, &admin, "malformed").await;
    let upload_path = format!("/api/v1/tests/{test_id}/evidence");

    let response = upload(&app, Some(&admin), &test_id, "empty.txt", Vec::new()).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let response = app.send_json(Method::POST, &upload_path, Some(&admin), &json!({"file": "aGVsbG8="})).await;
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
    let response = app.request(Method::POST, &upload_path, Some(&admin)).header("content-type", "text/plain").body("x");
    expect_error(response.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;
    let response = app.request(Method::POST, &upload_path, Some(&admin)).body("no content type");
    expect_error(response.send().await.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE").await;

    let form = Form::new().text("note", "no file here").text("files", "nor here");
    expect_error(upload_form(&app, Some(&admin), &test_id, form).await, StatusCode::BAD_REQUEST, "VALIDATION_ERROR")
        .await;
    let response = app
        .request(Method::POST, &upload_path, Some(&admin))
        .header("content-type", "multipart/form-data")
        .body("--x\r\n\r\n--x--\r\n");
    expect_error(response.send().await.unwrap(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let response = app
        .request(Method::POST, &upload_path, Some(&admin))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body("this is not multipart at all");
    expect_error(response.send().await.unwrap(), StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    let unknown = uuid::Uuid::new_v4();
    let response = upload(&app, Some(&admin), &unknown.to_string(), "a.txt", b"hello".to_vec()).await;
    expect_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let response = upload(&app, Some(&admin), "not-a-uuid", "a.txt", b"hello".to_vec()).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;

    assert!(blobs(&app).is_empty());
    assert!(tmp_files(&app).is_empty());
    assert!(evidences_of(&app, &test_id).await.is_empty());

    // Fields before `file` are skipped.
    let form = Form::new().text("note", "first").part("file", Part::bytes(b"after a note".to_vec()).file_name("n.txt"));
    let response = upload_form(&app, Some(&admin), &test_id, form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_of(response).await["sha256_hash"], sha256_hex(b"after a note"));

    // A validated test takes no more evidence.
    validate(&app, &test_id).await;
    let before = blobs(&app);
    for token in [admin.clone(), app.token_for(Role::BlueTech).await] {
        let response = upload(&app, Some(&token), &test_id, "late.txt", b"too late".to_vec()).await;
        expect_error(response, StatusCode::CONFLICT, "INVALID_STATE").await;
    }
    assert_eq!(blobs(&app), before, "nothing stored for a validated test");
    assert!(tmp_files(&app).is_empty());
    assert_eq!(evidences_of(&app, &test_id).await.len(), 1);
}

// ----- 7. size limits -------------------------------------------------------------------------

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_or_without_content_length() {
    let app = TestApp::start_with(|settings| settings.max_upload_mb = 1).await;
    let admin = app.admin_token().await;
    let test_id = create_test(&app, &admin, "limits").await;
    let address = address_of(&app.base).to_owned();

    // One byte over, with a Content-Length (counted while it streams: under the framing allowance).
    let response = upload(&app, Some(&admin), &test_id, "big.bin", noise(70, MIB + 1)).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // A declared Content-Length far over the limit is refused before any of the body is sent.
    let head = upload_head(&address, &test_id, &admin, Some(10 * MIB as u64));
    let response = raw_exchange(&address, head, tokio::io::empty(), false).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(raw_json(&response)["code"], "PAYLOAD_TOO_LARGE", "{response}");

    // Chunked, no Content-Length: ~3 MiB streamed; counted as it arrives.
    let (before, after) = multipart_framing("chunked.bin");
    let body = [before, noise(71, 3 * MIB), after].concat();
    let head = upload_head(&address, &test_id, &admin, None);
    let response = raw_exchange(&address, head, std::io::Cursor::new(body), true).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("PAYLOAD_TOO_LARGE"), "{response}");
    assert_eq!(raw_json(&response)["code"], "PAYLOAD_TOO_LARGE");

    assert!(tmp_files(&app).is_empty(), "nothing left in tmp/: {:?}", tmp_files(&app));
    assert!(blobs(&app).is_empty());
    assert!(evidences_of(&app, &test_id).await.is_empty());

    // Exactly the limit is fine, sent either way.
    let exact = noise(72, MIB);
    upload_ok(&app, &admin, &test_id, "exact.bin", &exact).await;
    let exact_chunked = noise(73, MIB);
    let (before, after) = multipart_framing("exact-chunked.bin");
    let body = [before, exact_chunked.clone(), after].concat();
    let head = upload_head(&address, &test_id, &admin, None);
    let response = raw_exchange(&address, head, std::io::Cursor::new(body), true).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert_eq!(raw_json(&response)["sha256_hash"], sha256_hex(&exact_chunked));
    assert_eq!(blobs(&app), set_of(&[&sha256_hex(&exact), &sha256_hex(&exact_chunked)]));
    assert!(tmp_files(&app).is_empty());
}

// ----- 8. parallel uploads --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_uploads_are_all_kept_and_identical_ones_stored_once() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let mut tests = Vec::new();
    for i in 0..4 {
        tests.push(create_test(&app, &admin, &format!("parallel {i}")).await);
    }
    let shared = noise(800, 200 * 1024);
    let contents: Vec<Vec<u8>> =
        (0..20).map(|i| if i < 10 { noise(801 + i, 100 * 1024 + i as usize) } else { shared.clone() }).collect();

    let mut tasks = Vec::new();
    for (i, content) in contents.iter().enumerate() {
        let url = app.url(&format!("/api/v1/tests/{}/evidence", tests[i % tests.len()]));
        let (client, token, content) = (app.client.clone(), admin.clone(), content.clone());
        tasks.push(tokio::spawn(async move {
            let part = Part::bytes(content).file_name(format!("parallel-{i}.bin"));
            let response = client.post(url).bearer_auth(token).multipart(Form::new().part("file", part)).send();
            let response = response.await.unwrap();
            (response.status(), response.text().await.unwrap())
        }));
    }
    let mut evidences = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "upload {i}: {body}");
        let evidence: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(evidence["sha256_hash"], sha256_hex(&contents[i]), "upload {i}");
        assert_eq!(evidence["file_name"], format!("parallel-{i}.bin"));
        evidences.push(evidence);
    }
    let ids: BTreeSet<&str> = evidences.iter().map(|evidence| evidence["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20, "twenty rows");
    let mut listed = 0;
    for test_id in &tests {
        listed += evidences_of(&app, test_id).await.len();
    }
    assert_eq!(listed, 20);
    for (i, evidence) in evidences.iter().enumerate() {
        assert!(download_bytes(&app, evidence).await == contents[i], "download {i}");
    }
    let expected: BTreeSet<String> = contents.iter().map(|content| sha256_hex(content)).collect();
    assert_eq!(expected.len(), 11);
    assert_eq!(blobs(&app), expected, "10 distinct + 1 shared");
    assert!(tmp_files(&app).is_empty());
}

// ----- 9. the real binary's memory --------------------------------------------------------------

const BINARY: &str = env!("CARGO_BIN_EXE_aegis");
const BINARY_ADMIN_PASSWORD: &str = "admin-password-for-the-binary";

/// Kills the server however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real binary over `dir` with uploads up to 300 MiB; returns it and its address.
fn start_binary(dir: &Path) -> (KillOnDrop, String) {
    let bundle = dir.join("mini-attack.json");
    std::fs::write(&bundle, common::bundle::mini().to_string()).unwrap();
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("AEGIS_DATA_DIR", dir.join("data"))
        .env("AEGIS_BIND", "127.0.0.1:0")
        .env("AEGIS_ADMIN_PASSWORD", BINARY_ADMIN_PASSWORD)
        .env("AEGIS_JWT_SECRET", "a-jwt-secret-for-the-evidence-memory-test")
        .env("AEGIS_MITRE_SOURCE", &bundle)
        .env("AEGIS_MAX_UPLOAD_MB", "300")
        // No outside traffic: no feeds, no scheduled jobs.
        .env("AEGIS_INTEL_FEEDS", "")
        .env("AEGIS_MITRE_SYNC_CRON", "")
        .env("AEGIS_INTEL_SCAN_CRON", "");
    let mut child = KillOnDrop(command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("the server prints its address");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let base = rest.split_whitespace().next().unwrap().to_owned();
            return (child, base);
        }
    }
}

/// A `VmHWM`-style line of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_upload_streams_through_the_real_binary() {
    const SIZE: usize = 200 * 1000 * 1000;
    const LIMIT_KIB: u64 = 150 * 1024;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start_binary(dir.path());
    let pid = server.0.id();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .form(&[("username", "admin"), ("password", BINARY_ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let token = json_of(login).await["access_token"].as_str().unwrap().to_owned();
    let technique =
        json_of(client.get(format!("{base}/api/v1/techniques/T1059.001")).bearer_auth(&token).send().await.unwrap())
            .await;
    let body = json!({"technique_id": technique["id"], "name": "big capture", "platform": "windows"});
    let response = client.post(format!("{base}/api/v1/tests")).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let test_id = json_of(response).await["id"].as_str().unwrap().to_owned();

    // 200 MB of noise on disk, written in chunks: never whole in this process's memory.
    let path = dir.path().join("big.bin");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let (mut source, mut buffer) = (Noise::new(9), vec![0u8; MIB]);
        let mut left = SIZE;
        while left > 0 {
            let chunk = &mut buffer[..left.min(MIB)];
            source.fill(chunk);
            file.write_all(chunk).unwrap();
            left -= chunk.len();
        }
        file.flush().unwrap();
    }
    // Hashed from the file while the upload runs (debug-build SHA-256 is slow; this overlaps it).
    let file_sha = tokio::task::spawn_blocking({
        let path = path.clone();
        move || {
            let (mut file, mut hasher, mut buffer) =
                (std::fs::File::open(path).unwrap(), Sha256::new(), vec![0u8; MIB]);
            loop {
                let read = std::io::Read::read(&mut file, &mut buffer).unwrap();
                if read == 0 {
                    break hex::encode(hasher.finalize());
                }
                hasher.update(&buffer[..read]);
            }
        }
    });
    let generated = started.elapsed();
    let before_upload = proc_status_kib(pid, "VmHWM:");

    // Uploaded from the file with a computed Content-Length.
    let address = address_of(&base).to_owned();
    let (head_part, tail_part) = multipart_framing("big.bin");
    let length = (head_part.len() + SIZE + tail_part.len()) as u64;
    let file = tokio::fs::File::open(&path).await.unwrap();
    let body = std::io::Cursor::new(head_part).chain(file).chain(std::io::Cursor::new(tail_part));
    let response = raw_exchange(&address, upload_head(&address, &test_id, &token, Some(length)), body, false).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{}", &response[..response.len().min(2000)]);
    let evidence = raw_json(&response);
    let sha = file_sha.await.unwrap();
    assert_eq!(evidence["sha256_hash"], sha);
    assert_eq!(evidence["size_bytes"], SIZE);
    let after_upload = proc_status_kib(pid, "VmHWM:");
    let uploaded = started.elapsed();

    // Downloaded through its link, hashed chunk by chunk. With no AEGIS_PUBLIC_URL the link is built on
    // the address the server really listens on (AEGIS_BIND's port 0 picked one).
    let url = on_server(&base, &base, evidence["download_url"].as_str().unwrap());
    let mut response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(SIZE as u64));
    let (mut hasher, mut received) = (Sha256::new(), 0usize);
    while let Some(chunk) = response.chunk().await.unwrap() {
        hasher.update(&chunk);
        received += chunk.len();
    }
    assert_eq!(received, SIZE);
    assert_eq!(hex::encode(hasher.finalize()), sha);
    let after_download = proc_status_kib(pid, "VmHWM:");

    eprintln!(
        "200 MB evidence: server VmHWM {before_upload} KiB before the upload, {after_upload} KiB after it, \
         {after_download} KiB after the download; generated in {generated:?}, uploaded by {uploaded:?}, \
         done in {:?}",
        started.elapsed()
    );
    assert!(after_upload < LIMIT_KIB, "the server peaked at {after_upload} KiB while receiving 200 MB");
    assert!(after_download < LIMIT_KIB, "the server peaked at {after_download} KiB while sending 200 MB");
    drop(server);
}

#[tokio::test]
async fn fields_besides_the_file_are_held_to_a_small_size() {
    let app = TestApp::start_with(|settings| settings.max_upload_mb = 1).await;
    let owner = app.token_for(Role::RedTech).await;
    let test_id = create_test(&app, &owner, "other fields").await;
    // 100 KiB of another field before a small file: within the declared-length allowance, over the
    // 64 KiB the other fields may take.
    let form = Form::new()
        .text("note", "n".repeat(100 * 1024))
        .part("file", Part::bytes(b"small".to_vec()).file_name("small.txt"));
    let response = upload_form(&app, Some(&owner), &test_id, form).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    // A short note is fine.
    let form =
        Form::new().text("note", "seen at 10:02").part("file", Part::bytes(b"small".to_vec()).file_name("small.txt"));
    assert_eq!(upload_form(&app, Some(&owner), &test_id, form).await.status(), StatusCode::CREATED);
    assert_eq!(blobs(&app).len(), 1);
    assert!(tmp_files(&app).is_empty());
}
