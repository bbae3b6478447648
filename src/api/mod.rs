//! The REST API under `/api/v1`: one `#[OpenApi]` impl per resource, thin handlers over services.

pub mod atomics;
pub mod audit;
pub mod auth;
pub mod bundle_upload;
pub mod evidence;
pub mod evidence_upload;
pub mod export;
pub mod intel;
pub mod metrics;
pub mod multipart;
pub mod prepared;
pub mod system;
pub mod techniques;
pub mod tests;
pub mod text;
pub mod users;

use poem_openapi::{OpenApiService, Tags};

pub const PREFIX: &str = "/api/v1";

#[derive(Tags)]
pub enum ApiTags {
    /// Log in and find out who you are.
    Auth,
    /// The ATT&CK catalogue and each technique's coverage status.
    Techniques,
    /// Red-team tests, their validation by leads, and evidence.
    Tests,
    /// Detection coverage overall and by tactic.
    Metrics,
    /// Threat-intel feeds and the items that name techniques.
    Intel,
    /// ATT&CK Navigator layers, CSV and the printable report.
    Export,
    /// The Atomic Red Team procedure library.
    Atomics,
    /// Accounts and roles (admin only).
    Users,
    /// The append-only record of every change and login (admin only).
    AuditLogs,
    /// Health, synchronisation and the scheduler.
    System,
}

pub type Apis = (
    auth::AuthApi,
    techniques::TechniquesApi,
    tests::TestsApi,
    evidence::EvidenceApi,
    metrics::MetricsApi,
    intel::IntelApi,
    export::ExportApi,
    atomics::AtomicsApi,
    users::UsersApi,
    audit::AuditApi,
    system::SystemApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            techniques::TechniquesApi,
            tests::TestsApi,
            evidence::EvidenceApi,
            metrics::MetricsApi,
            intel::IntelApi,
            export::ExportApi,
            atomics::AtomicsApi,
            users::UsersApi,
            audit::AuditApi,
            system::SystemApi,
        ),
        "Aegis API",
        crate::VERSION,
    )
    .description(
        "Aegis tracks detection coverage against MITRE ATT&CK. Log in with the OAuth2 password form at \
         `POST /api/v1/auth/login` (Swagger UI's **Authorize** button does this), then send \
         `Authorization: Bearer <token>`. Every error is `{\"detail\": \"...\", \"code\": \"...\"}`.",
    )
    .license(poem_openapi::LicenseObject::new("MIT"))
}
