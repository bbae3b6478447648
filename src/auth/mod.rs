//! Who is calling and what they may do: password hashing, tokens, login throttling, the
//! security scheme every handler names in its signature, and the one permission table.

pub mod password;
pub mod permission;
pub mod scheme;
pub mod secret;
pub mod throttle;
pub mod tokens;

pub use permission::{CurrentUser, Permission, Role};
pub use scheme::BearerAuth;
