//! Who may do what: the four roles and the one table of their permissions. The UI uses it
//! to hide controls; the server checks it on every server function and API route.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A member's role in an organisation, from least to most powerful.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
    Owner,
}

/// Something a member may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// See streams, settings, assets and job states.
    ViewStreams,
    /// See and copy a stream's publish key.
    ViewStreamKey,
    /// Create, rename and delete streams and stream groups.
    EditStreams,
    /// Change live processing settings.
    EditProcessing,
    /// Make, revoke and delete clips and share links.
    ManageClips,
    /// Issue a new publish key (the old one stops working).
    RegenerateStreamKey,
    /// Add members, change their roles, remove them.
    ManageMembers,
    /// Create and revoke API keys and webhooks.
    ManageIntegrations,
    /// Make or remove owners.
    ManageOwners,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Editor, Role::Admin, Role::Owner];

    /// The one place that says what each role may do.
    pub fn can(self, permission: Permission) -> bool {
        let needed = match permission {
            Permission::ViewStreams => Role::Viewer,
            Permission::ViewStreamKey
            | Permission::EditStreams
            | Permission::EditProcessing
            | Permission::ManageClips => Role::Editor,
            Permission::RegenerateStreamKey
            | Permission::ManageMembers
            | Permission::ManageIntegrations => Role::Admin,
            Permission::ManageOwners => Role::Owner,
        };
        self >= needed
    }

    /// Whether a member with this role may give `target` to someone (or take it away).
    pub fn can_assign(self, target: Role) -> bool {
        match target {
            Role::Owner => self.can(Permission::ManageOwners),
            _ => self.can(Permission::ManageMembers),
        }
    }

    /// Stable key used in the database and the API.
    pub fn key(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses [`Role::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.key() == key)
    }

    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Admin => "Admin",
            Role::Owner => "Owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_only_see() {
        assert!(Role::Viewer.can(Permission::ViewStreams));
        for p in [
            Permission::ViewStreamKey,
            Permission::EditStreams,
            Permission::EditProcessing,
            Permission::RegenerateStreamKey,
            Permission::ManageMembers,
        ] {
            assert!(!Role::Viewer.can(p), "viewer must not {p:?}");
        }
    }

    #[test]
    fn editors_change_streams_and_settings_but_not_members_or_keys() {
        assert!(Role::Editor.can(Permission::EditProcessing));
        assert!(Role::Editor.can(Permission::EditStreams));
        assert!(!Role::Editor.can(Permission::RegenerateStreamKey));
        assert!(!Role::Editor.can(Permission::ManageMembers));
    }

    #[test]
    fn admins_manage_members_and_keys_but_not_owners() {
        assert!(Role::Admin.can(Permission::ManageMembers));
        assert!(Role::Admin.can(Permission::RegenerateStreamKey));
        assert!(Role::Admin.can_assign(Role::Editor));
        assert!(!Role::Admin.can_assign(Role::Owner));
        assert!(Role::Owner.can_assign(Role::Owner));
    }

    #[test]
    fn keys_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_key(r.key()), Some(r));
        }
    }
}
