//! People and organisations as the dashboard sees them: the signed-in user, members, the
//! organisation overview with its Enabled Packages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::packages::PackageState;
use super::roles::Role;

/// The signed-in user in their current organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub organisation_id: i64,
    pub organisation_name: String,
    pub role: Role,
}

/// What every page knows of the signed-in user: who they are and what their organisation
/// has enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: CurrentUser,
    pub packages: Vec<crate::domain::packages::Package>,
    /// Every organisation the user belongs to (the current one included).
    pub memberships: Vec<Membership>,
}

impl SessionInfo {
    /// Whether a package is enabled.
    pub fn has(&self, package: crate::domain::packages::Package) -> bool {
        self.packages.contains(&package)
    }
}

/// A member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub since: DateTime<Utc>,
}

/// The organisation overview page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationOverview {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub packages: Vec<PackageState>,
    pub members: Vec<Member>,
    /// Its media on disk against its quota.
    #[serde(default)]
    pub storage: crate::domain::jobs::StorageStatus,
}

/// An organisation the signed-in user belongs to (for the organisation picker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub organisation_id: i64,
    pub organisation_name: String,
    pub role: Role,
}

/// A pending invitation, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A new invitation with its link (the only time the link is shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewInvitation {
    pub invitation: Invitation,
    /// `/invite/<token>`: the admin passes it on to the invitee.
    pub path: String,
}

/// What an invitation link shows the invitee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub organisation_name: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// The address already has an account: accepting needs its password.
    pub account_exists: bool,
}

/// How long an invitation link stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Checks an e-mail address loosely (one `@`, something either side, no spaces).
pub fn check_email(email: &str) -> Result<String, FieldError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.contains(char::is_whitespace)
        && matches!(e.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if ok {
        Ok(e)
    } else {
        Err(FieldError::new(
            "email",
            "E-mail",
            email.into(),
            "an address like name@example.com".into(),
        ))
    }
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), FieldError> {
    if password.chars().count() >= MIN_PASSWORD_CHARS && password.len() <= 1024 {
        Ok(())
    } else {
        Err(FieldError::new(
            "password",
            "Password",
            format!("{} characters", password.chars().count()),
            format!("at least {MIN_PASSWORD_CHARS} characters"),
        ))
    }
}

/// Checks an organisation or display name.
pub fn check_name(field: &str, label: &str, name: &str) -> Result<String, FieldError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 80 {
        Err(FieldError::new(
            field,
            label,
            name.into(),
            "1–80 characters".into(),
        ))
    } else {
        Ok(n.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(check_email(" A@Example.com "), Ok("a@example.com".into()));
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@b@c.d"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("123456789").is_err());
        assert!(check_password("1234567890").is_ok());
    }
}
