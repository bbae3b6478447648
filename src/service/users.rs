//! User accounts: creation, changes (with the token-version bump that kills old tokens), the
//! last-admin guard, and the first admin created on first start.

use serde_json::json;

use crate::auth::Role;
use crate::auth::password::PasswordHasher;
use crate::db::{self, Db, users::UserRow};
use crate::error::AppError;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::time;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Argon2 takes any length, but an unbounded one is free work for an attacker.
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const FIRST_ADMIN_USERNAME: &str = "admin";

pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub password: String,
    pub role: Role,
}

/// A partial update; `None` leaves a field as it is (`email: Some(None)` clears the email).
#[derive(Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub password: Option<String>,
}

pub fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::validation(format!("password must be at least {MIN_PASSWORD_CHARS} characters")));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AppError::validation(format!("password must be at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

pub fn check_username(username: &str) -> Result<(), AppError> {
    let valid_chars = username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !(1..=64).contains(&username.len()) || !valid_chars {
        return Err(AppError::validation(
            "username must be 1 to 64 characters of letters, digits, '.', '_', '-' or '@'",
        ));
    }
    Ok(())
}

/// A deliberately plain check (one `@`, a dotted domain, no spaces): it catches typos without
/// refusing the odd valid address.
pub fn normalize_email(email: &str) -> Result<String, AppError> {
    let email = email.trim();
    let invalid = || AppError::validation(format!("'{email}' is not a valid email address"));
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-'));
    let local_ok = !local.is_empty() && !local.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@');
    if email.len() > 254 || !domain_ok || !local_ok {
        return Err(invalid());
    }
    Ok(email.to_owned())
}

pub async fn list(db: &Db) -> Result<Vec<UserRow>, AppError> {
    db.read(db::users::list).await
}

pub async fn create(db: &Db, hasher: &PasswordHasher, actor: Actor, new: NewUser) -> Result<UserRow, AppError> {
    check_username(&new.username)?;
    check_password(&new.password)?;
    let email = new.email.as_deref().map(normalize_email).transpose()?;
    let password_hash = hasher.hash(new.password).await?;
    let now = time::now();
    let user = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: new.username,
        email,
        password_hash,
        role: new.role,
        is_active: true,
        token_version: 0,
        created_at: now.clone(),
        updated_at: now,
    };
    db.write(move |tx| {
        db::users::insert(tx, &user)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::CreateUser,
                entity_type: entity::USER,
                entity_id: Some(&user.id),
                details: json!({ "username": user.username, "role": user.role.as_str(), "email": user.email }),
            },
        )?;
        Ok(user)
    })
    .await
}

pub async fn update(
    db: &Db,
    hasher: &PasswordHasher,
    actor: Actor,
    user_id: String,
    changes: UserChanges,
) -> Result<UserRow, AppError> {
    if let Some(password) = &changes.password {
        check_password(password)?;
    }
    let email = match changes.email {
        Some(Some(email)) => Some(Some(normalize_email(&email)?)),
        other => other,
    };
    // Hash before taking the write lock: Argon2 is slow and needs no database.
    let password_hash = match changes.password {
        Some(password) => Some(hasher.hash(password).await?),
        None => None,
    };
    let (role, is_active) = (changes.role, changes.is_active);
    db.write(move |tx| {
        let mut user = db::users::find_by_id(tx, &user_id)?
            .ok_or_else(|| AppError::not_found(format!("no user with id {user_id}")))?;
        let mut changed = serde_json::Map::new();
        let mut kills_tokens = false;

        let demoted = user.role == Role::Admin && role.is_some_and(|role| role != Role::Admin);
        let deactivated = user.is_active && is_active == Some(false);
        if user.role == Role::Admin
            && user.is_active
            && (demoted || deactivated)
            && db::users::count_active_admins(tx)? <= 1
        {
            return Err(AppError::conflict("the last active admin cannot be demoted or deactivated"));
        }
        if let Some(email) = email
            && email != user.email
        {
            changed.insert("email".into(), json!({ "from": user.email, "to": email }));
            user.email = email;
        }
        if let Some(role) = role
            && role != user.role
        {
            changed.insert("role".into(), json!({ "from": user.role.as_str(), "to": role.as_str() }));
            user.role = role;
            kills_tokens = true;
        }
        if let Some(is_active) = is_active
            && is_active != user.is_active
        {
            changed.insert("is_active".into(), json!({ "from": user.is_active, "to": is_active }));
            user.is_active = is_active;
            kills_tokens |= !is_active;
        }
        if let Some(password_hash) = password_hash {
            changed.insert("password_changed".into(), json!(true));
            user.password_hash = password_hash;
            kills_tokens = true;
        }
        if changed.is_empty() {
            return Ok(user);
        }
        if kills_tokens {
            user.token_version += 1;
        }
        user.updated_at = time::now();
        db::users::update(tx, &user)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::UpdateUser,
                entity_type: entity::USER,
                entity_id: Some(&user.id),
                details: json!({ "username": user.username, "changes": changed }),
            },
        )?;
        Ok(user)
    })
    .await
}

pub async fn find_by_username(db: &Db, username: String) -> Result<Option<UserRow>, AppError> {
    db.read(move |conn| db::users::find_by_username(conn, &username)).await
}

/// On a database with no users, creates `admin` with the configured password or a random one,
/// which is returned so the caller can show it once.
pub async fn ensure_first_admin(
    db: &Db,
    hasher: &PasswordHasher,
    configured_password: Option<&str>,
) -> Result<Option<String>, AppError> {
    if db.read(db::users::count).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match configured_password {
        Some(password) => (password.to_owned(), false),
        None => (random_password(), true),
    };
    let new =
        NewUser { username: FIRST_ADMIN_USERNAME.into(), email: None, password: password.clone(), role: Role::Admin };
    match create(db, hasher, Actor::System("system"), new).await {
        Ok(_) => Ok(generated.then_some(password)),
        // Another process created it between our check and insert: fine.
        Err(AppError::Conflict(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

/// 20 characters from an alphabet without look-alikes: ~115 bits.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..20).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@example.org", "ops@sub.example.co.uk", "  x@y.io "] {
            assert!(normalize_email(good).is_ok(), "{good}");
        }
        for bad in
            ["", "plain", "@example.com", "a@", "a@b", "a b@c.com", "a@b..com", "a@.b.com", "a@b.com.", "a@@b.com"]
        {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_usernames() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password("éééééééé").is_ok(), "counted in characters");
        assert!(check_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(check_username("red.tech-1").is_ok());
        for bad in ["", "a b", "../x", "x\n", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_passwords_are_long_and_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(check_password(&a).is_ok());
    }
}
