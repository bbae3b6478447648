//! Atomic Red Team import: the real archive, broken files, single files, zips, roles, listing,
//! and prefilling a test from an atomic.

mod common;

use std::io::Write;

use aegis::auth::Role;
use common::{TestApp, expect_error, roles_except};
use reqwest::{Method, StatusCode, multipart};
use serde_json::{Value, json};

const ARCHIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/atomic-red-team/atomics-yaml.tar.gz");
const IMPORT: &str = "/api/v1/import/atomic-red-team";

const GOOD_YAML: &str = r##"
attack_technique: T1059.001
display_name: 'Command and Scripting Interpreter: PowerShell'
atomic_tests:
- name: Say hello
  auto_generated_guid: 11111111-2222-4333-8444-555555555555
  description: Writes a greeting.
  supported_platforms:
  - Windows
  input_arguments:
    greeting:
      description: what to say
      type: string
      default: hello world
    count:
      description: how often
      type: integer
      default: 3
  dependencies: []
  executor:
    name: powershell
    elevation_required: true
    command: |
      Write-Host "#{greeting}" -Count #{count}
    cleanup_command: |
      Remove-Item "#{greeting}.txt"
- name: No guid
  description: skipped
  supported_platforms: [linux]
  executor:
    name: sh
    command: echo hi
"##;

const BROKEN_YAML: &str = "attack_technique: T1003\natomic_tests:\n- name: [unclosed\n  executor: {\n";

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: {body}"))
}

async fn upload(app: &TestApp, token: Option<&str>, bytes: Vec<u8>, name: &str) -> reqwest::Response {
    let form = multipart::Form::new().part("file", multipart::Part::bytes(bytes).file_name(name.to_owned()));
    app.request(Method::POST, IMPORT, token).multipart(form).send().await.unwrap()
}

fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (path, content) in files {
        writer.start_file(*path, options).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

async fn statuses(app: &TestApp, token: &str) -> Value {
    let list = json_of(app.get("/api/v1/techniques?include_deprecated=true", Some(token)).await).await;
    Value::Array(
        list.as_array().unwrap().iter().map(|t| json!([t["mitre_id"], t["status_global"], t["test_count"]])).collect(),
    )
}

#[tokio::test]
async fn the_real_archive_imports_and_reimports_unchanged() {
    let Ok(bytes) = std::fs::read(ARCHIVE) else {
        println!("skipped: {ARCHIVE} is absent");
        return;
    };
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let before = statuses(&app, &admin).await;

    let report = json_of(upload(&app, Some(&admin), bytes.clone(), "atomics-yaml.tar.gz").await).await;
    assert_eq!(report["errors"], json!([]), "{report}");
    assert_eq!(report["files"], 341, "{report}");
    assert_eq!(report["techniques"], 341, "{report}");
    assert_eq!(report["imported"], 1819, "{report}");
    assert_eq!(
        (report["updated"].as_u64(), report["unchanged"].as_u64(), report["skipped"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    let count: i64 = app
        .state
        .db
        .read(|conn| Ok(conn.query_row("SELECT count(*) FROM atomic_tests", [], |row| row.get(0))?))
        .await
        .unwrap();
    assert_eq!(count, 1819);

    // Again: nothing new, nothing changed.
    let red_lead = app.token_for(Role::RedLead).await;
    let report = json_of(upload(&app, Some(&red_lead), bytes, "atomics-yaml.tgz").await).await;
    assert_eq!((report["imported"].as_u64(), report["updated"].as_u64()), (Some(0), Some(0)), "{report}");
    assert_eq!(report["unchanged"], 1819);

    // A procedure library, not tests: no technique changed.
    assert_eq!(statuses(&app, &admin).await, before);

    // Listing, for every role.
    let viewer = app.token_for(Role::Viewer).await;
    let atomics = json_of(app.get("/api/v1/techniques/T1059.001/atomics", Some(&viewer)).await).await;
    let atomics = atomics.as_array().unwrap();
    assert!(atomics.len() > 5, "{atomics:?}");
    assert!(atomics.iter().all(|a| a["mitre_id"] == "T1059.001"));
    let mimikatz = atomics.iter().find(|a| a["guid"] == "f3132740-55bc-48c4-bcc0-758a459cd027").expect("Mimikatz");
    assert_eq!(mimikatz["platforms"], json!(["windows"]));
    assert_eq!(mimikatz["executor"], "command_prompt");
    assert_eq!(mimikatz["elevation_required"], true);
    assert!(mimikatz["command"].as_str().unwrap().contains("#{mimurl}"));
    let url = mimikatz["input_arguments"]["mimurl"]["default"].as_str().unwrap().to_owned();

    // A test prefilled from it.
    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&admin)).await).await;
    let red_tech = app.token_for(Role::RedTech).await;
    let body = json!({"technique_id": technique["id"], "atomic_guid": mimikatz["guid"]});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&red_tech), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let test = json_of(response).await;
    assert_eq!(test["name"], mimikatz["name"]);
    assert_eq!(test["tool_used"], "Atomic Red Team");
    assert_eq!(test["platform"], "windows");
    let procedure = test["procedure_text"].as_str().unwrap();
    assert!(procedure.contains(&format!("DownloadString('{url}')")), "{procedure}");
    assert!(!procedure.contains("#{"), "{procedure}");
}

#[tokio::test]
async fn broken_files_are_reported_by_name_and_the_rest_imports() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let archive = tar_gz(&[
        ("atomics/T1059.001/T1059.001.yaml", GOOD_YAML),
        ("atomics/T1003/T1003.yaml", BROKEN_YAML),
        ("atomics/T1003/T1003.md", "# not read"),
        ("atomics/Indexes/index.yaml", "not: [read"),
    ]);
    let report = json_of(upload(&app, Some(&admin), archive, "atomics.tar.gz").await).await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    assert_eq!(report["files"], 2, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["file"], "atomics/T1003/T1003.yaml");
    assert!(!errors[0]["error"].as_str().unwrap().is_empty());

    let atomics = json_of(app.get("/api/v1/techniques/T1059.001/atomics", Some(&admin)).await).await;
    assert_eq!(atomics.as_array().unwrap().len(), 1);
    assert_eq!(atomics[0]["input_arguments"]["count"]["default"], 3);

    // A test from it: the request's own fields win, the rest is filled.
    let technique = json_of(app.get("/api/v1/techniques/T1059.001", Some(&admin)).await).await;
    let body = json!({"technique_id": technique["id"], "atomic_guid": atomics[0]["guid"], "name": "Mine"});
    let test = json_of(app.send_json(Method::POST, "/api/v1/tests", Some(&admin), &body).await).await;
    assert_eq!(test["name"], "Mine");
    assert_eq!(test["description"], "Writes a greeting.");
    assert_eq!(test["platform"], "windows");
    assert_eq!(test["tool_used"], "Atomic Red Team");
    assert_eq!(
        test["procedure_text"],
        "Write-Host \"hello world\" -Count 3\nCleanup:\nRemove-Item \"hello world.txt\""
    );

    // Without an atomic, name and platform are still required; an unknown atomic is a 404.
    let body = json!({"technique_id": technique["id"], "platform": "windows"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&admin), &body).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let body = json!({"technique_id": technique["id"], "name": "n"});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&admin), &body).await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
    let body = json!({"technique_id": technique["id"], "atomic_guid": uuid::Uuid::new_v4()});
    let response = app.send_json(Method::POST, "/api/v1/tests", Some(&admin), &body).await;
    expect_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn single_files_and_zips_import() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let report = json_of(upload(&app, Some(&admin), GOOD_YAML.as_bytes().to_vec(), "T1059.001.yaml").await).await;
    assert_eq!((report["imported"].as_u64(), report["techniques"].as_u64()), (Some(1), Some(1)), "{report}");

    // A zip with the same file changed, and another technique.
    let changed = GOOD_YAML.replace("Writes a greeting.", "Writes a greeting, loudly.");
    let other = GOOD_YAML
        .replace("T1059.001", "T1566")
        .replace("11111111-2222-4333-8444-555555555555", "aaaaaaaa-2222-4333-8444-555555555555");
    let archive = zip_of(&[("atomics/T1059.001/T1059.001.yaml", &changed), ("atomics/T1566/T1566.yaml", &other)]);
    let report = json_of(upload(&app, Some(&admin), archive, "atomics.zip").await).await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["techniques"], 2, "{report}");
    let atomics = json_of(app.get("/api/v1/techniques/T1059.001/atomics", Some(&admin)).await).await;
    assert_eq!(atomics[0]["description"], "Writes a greeting, loudly.");

    // A file that is not YAML at all is reported, not imported.
    let report = json_of(upload(&app, Some(&admin), b"\x00\x01 not yaml: [".to_vec(), "T1000.yaml").await).await;
    assert_eq!(report["imported"], 0);
    assert_eq!(report["errors"][0]["file"], "T1000.yaml", "{report}");

    // An unknown technique with no atomics is a 404; a known one without atomics is empty.
    let response = app.get("/api/v1/techniques/T9998/atomics", Some(&admin)).await;
    expect_error(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(json_of(app.get("/api/v1/techniques/T1027/atomics", Some(&admin)).await).await, json!([]));

    // Whatever is not a technique file is reported, not refused (the RBAC matrix sends this).
    let report = json_of(upload(&app, Some(&admin), b"evidence bytes".to_vec(), "e.txt").await).await;
    assert_eq!((report["imported"].as_u64(), report["errors"][0]["file"].as_str()), (Some(0), Some("e.txt")));

    // No multipart file: 400.
    let form = multipart::Form::new().text("other", "x");
    let response = app.request(Method::POST, IMPORT, Some(&admin)).multipart(form).send().await.unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn only_admins_and_red_leads_import_every_role_lists() {
    let app = TestApp::start().await;
    let single = || GOOD_YAML.as_bytes().to_vec();
    expect_error(upload(&app, None, single(), "T1059.001.yaml").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    expect_error(app.get("/api/v1/techniques/T1059.001/atomics", None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        .await;
    let allowed = [Role::Admin, Role::RedLead];
    for role in allowed {
        let token = app.token_for(role).await;
        let response = upload(&app, Some(&token), single(), "T1059.001.yaml").await;
        assert_eq!(response.status(), StatusCode::OK, "{role}");
    }
    for role in roles_except(&allowed) {
        let token = app.token_for(role).await;
        let response = upload(&app, Some(&token), single(), "T1059.001.yaml").await;
        expect_error(response, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    for role in Role::ALL {
        let token = app.token_for(role).await;
        let response = app.get("/api/v1/techniques/T1059.001/atomics", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{role}");
    }
}

#[tokio::test]
async fn oversized_uploads_are_refused() {
    let app = TestApp::start().await;
    let admin = app.admin_token().await;
    let response = upload(&app, Some(&admin), vec![b'#'; 64 * 1024 * 1024 + 1], "T1059.yaml").await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // Over 200 MiB decompressed: a small gzip of zeros claiming a large tar entry.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut header = tar::Header::new_gnu();
    header.set_path("atomics/T1059/T1059.yaml").unwrap();
    header.set_size(201 * 1024 * 1024);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..202 {
        gz.write_all(&zeros).unwrap();
    }
    let response = upload(&app, Some(&admin), gz.finish().unwrap(), "bomb.tar.gz").await;
    expect_error(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
}
