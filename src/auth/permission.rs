//! Roles and the permission table (DESIGN.md, "Roles and permissions"), in one place.
//! Handlers ask `user.require(Permission::…)?`; nothing infers rights from a path.

use std::fmt;
use std::str::FromStr;

use poem_openapi::Enum;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Role {
    Admin,
    RedLead,
    RedTech,
    BlueLead,
    BlueTech,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::RedLead, Role::RedTech, Role::BlueLead, Role::BlueTech, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::RedLead => "red_lead",
            Role::RedTech => "red_tech",
            Role::BlueLead => "blue_lead",
            Role::BlueTech => "blue_tech",
            Role::Viewer => "viewer",
        }
    }

    /// The permission table. Ownership-bound rights ("creator") are separate permissions, checked
    /// by the service against the resource.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            Read => true,
            ManageTechniques | EditAnyTest | ManageUsers | ReadAuditLog | ManageSystem => self == Admin,
            ReviewTechnique | ValidateTest => matches!(self, Admin | RedLead | BlueLead),
            CreateTest => matches!(self, Admin | RedLead | RedTech),
            EditOwnTest => matches!(self, RedLead | RedTech),
            UploadEvidenceAnyTest => matches!(self, Admin | RedLead | BlueLead | BlueTech),
            UploadEvidenceOwnTest => self == RedTech,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == value).ok_or_else(|| {
            format!("role '{value}' is not one of admin, red_lead, red_tech, blue_lead, blue_tech, viewer")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Techniques, tests, evidence, metrics, intel items.
    Read,
    /// Create or patch a technique.
    ManageTechniques,
    /// Mark a technique reviewed.
    ReviewTechnique,
    CreateTest,
    /// Patch any draft or rejected test.
    EditAnyTest,
    /// Patch a draft or rejected test the user created.
    EditOwnTest,
    /// Validate or reject a test.
    ValidateTest,
    /// Upload evidence to any test that is not validated.
    UploadEvidenceAnyTest,
    /// Upload evidence to a not-validated test the user created.
    UploadEvidenceOwnTest,
    ManageUsers,
    ReadAuditLog,
    /// Sync, scans, scheduler, feeds.
    ManageSystem,
}

/// The authenticated caller, loaded from the database on every request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: String,
    pub updated_at: String,
    /// The catalogue's version when the request was authenticated, read with the user: what the
    /// catalogue views (the technique list, the metrics) are served at without a second read.
    pub catalogue_version: i64,
}

impl CurrentUser {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("the {} role may not do this", self.role)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Permission::*;
    use super::Role::*;
    use super::*;

    /// DESIGN.md's table, row by row: (permission, admin, red_lead, red_tech, blue_lead, blue_tech, viewer).
    #[test]
    fn matches_the_design_table() {
        let table = [
            (Read, [true, true, true, true, true, true]),
            (ManageTechniques, [true, false, false, false, false, false]),
            (ReviewTechnique, [true, true, false, true, false, false]),
            (CreateTest, [true, true, true, false, false, false]),
            (EditAnyTest, [true, false, false, false, false, false]),
            (EditOwnTest, [false, true, true, false, false, false]),
            (ValidateTest, [true, true, false, true, false, false]),
            (UploadEvidenceAnyTest, [true, true, false, true, true, false]),
            (UploadEvidenceOwnTest, [false, false, true, false, false, false]),
            (ManageUsers, [true, false, false, false, false, false]),
            (ReadAuditLog, [true, false, false, false, false, false]),
            (ManageSystem, [true, false, false, false, false, false]),
        ];
        for (permission, expected) in table {
            for (role, allowed) in [Admin, RedLead, RedTech, BlueLead, BlueTech, Viewer].into_iter().zip(expected) {
                assert_eq!(role.allows(permission), allowed, "{role} / {permission:?}");
            }
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("Admin".parse::<Role>().is_err());
        assert!("root".parse::<Role>().is_err());
    }
}
