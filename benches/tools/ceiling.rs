//! The ceiling of the HTTP benchmark: the same server stack as `aegis serve` (poem on tokio's
//! multi-threaded runtime, the same allocator setting, the same middleware around every route) answering
//! `GET /ceiling/{name}` with a precomputed body — the bytes Aegis itself returned for that endpoint.
//! Aegis's throughput on an endpoint divided by this one's is the share of the stack's ceiling it reaches:
//! what authentication, the database and serialisation cost on top of moving the same bytes.
//!
//! `bench-ceiling <bind address> <bodies dir>`: every `<name>.json` in the dir becomes `/ceiling/<name>`.

use std::collections::HashMap;
use std::sync::Arc;

use aegis::error::render_framework_error;
use aegis::middleware;
use poem::http::{StatusCode, header};
use poem::listener::TcpListener;
use poem::web::Path;
use poem::{EndpointExt, Response, Route, Server, handler};

type Bodies = Arc<HashMap<String, bytes::Bytes>>;

#[handler]
fn ceiling(Path(name): Path<String>, bodies: poem::web::Data<&Bodies>) -> Response {
    match bodies.get(&name) {
        Some(body) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.clone()),
        None => Response::builder().status(StatusCode::NOT_FOUND).finish(),
    }
}

fn load(dir: &std::path::Path) -> std::io::Result<Bodies> {
    let mut bodies = HashMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if let (Some(stem), Some("json")) =
            (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str()))
        {
            bodies.insert(stem.to_owned(), bytes::Bytes::from(std::fs::read(&path)?));
        }
    }
    Ok(Arc::new(bodies))
}

fn main() -> std::io::Result<()> {
    // As `aegis`'s main does, so both servers allocate alike.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable; called once before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
    let args: Vec<String> = std::env::args().collect();
    let [_, bind, dir] = args.as_slice() else {
        eprintln!("usage: bench-ceiling <bind address> <bodies dir>");
        std::process::exit(2);
    };
    // Logs as `aegis` does (a line per request at the default level), so both pay for it.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let bodies = load(std::path::Path::new(dir))?;
    let spec_json = aegis::api::service().spec();
    // The same middleware, in the same order, as `aegis::app::routes`.
    let app = Route::new()
        .at("/ceiling/:name", ceiling)
        .around(middleware::limit_body)
        .data(bodies)
        .catch_all_error(render_framework_error)
        .with(middleware::AllowHeader::new(&spec_json))
        .with(poem::middleware::CatchPanic::new())
        .around(middleware::security_headers_and_request_id);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(Server::new(TcpListener::bind(bind.as_str())).run(app))
}
