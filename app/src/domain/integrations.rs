//! What integrators use: organisation API keys, webhook endpoints and their deliveries, the
//! events the platform announces, and the paging of long lists.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::roles::Role;

/// An API key as admins see it (the secret is shown once, at creation, never again).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    /// What the key may do, as a member with this role.
    pub role: Role,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just made: its details and, this once, the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewApiKey {
    pub key: ApiKeyInfo,
    pub secret: String,
}

/// Checks a name given to a key or a webhook: trimmed, 1–80 characters.
pub fn check_label(field: &str, label: &str, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 || n > 80 {
        return Err(FieldError::new(
            field,
            label,
            if n == 0 {
                String::new()
            } else {
                format!("{n} characters")
            },
            "1–80 characters".into(),
        ));
    }
    Ok(v.to_string())
}

/// Something that happened, announced to webhooks.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "session.started")]
    SessionStarted,
    #[serde(rename = "session.ended")]
    SessionEnded,
    /// The session continues on another node (its node died; the publisher reconnected).
    #[serde(rename = "session.resumed")]
    SessionResumed,
    #[serde(rename = "asset.created")]
    AssetCreated,
    #[serde(rename = "clip.created")]
    ClipCreated,
    #[serde(rename = "job.failed")]
    JobFailed,
    #[serde(rename = "storage.quota")]
    StorageQuota,
}

impl EventKind {
    /// Every event, in the order forms list them.
    pub const ALL: [EventKind; 7] = [
        EventKind::SessionStarted,
        EventKind::SessionEnded,
        EventKind::SessionResumed,
        EventKind::AssetCreated,
        EventKind::ClipCreated,
        EventKind::JobFailed,
        EventKind::StorageQuota,
    ];

    /// The event's name on the wire (`session.started`).
    pub fn key(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "session.started",
            EventKind::SessionEnded => "session.ended",
            EventKind::SessionResumed => "session.resumed",
            EventKind::AssetCreated => "asset.created",
            EventKind::ClipCreated => "clip.created",
            EventKind::JobFailed => "job.failed",
            EventKind::StorageQuota => "storage.quota",
        }
    }

    /// Parses [`EventKind::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.key() == key)
    }

    /// What it means, for the form.
    pub fn description(self) -> &'static str {
        match self {
            EventKind::SessionStarted => "a publisher went live",
            EventKind::SessionEnded => "a live session ended",
            EventKind::SessionResumed => {
                "a live session continued: its publisher reconnected within the grace, or another node took it over after its node stopped answering"
            }
            EventKind::AssetCreated => {
                "a thumbnail, motion clip, recording file or replay was made (or closed)"
            }
            EventKind::ClipCreated => "a clip was cut from a replay",
            EventKind::JobFailed => "a process kept failing and stopped",
            EventKind::StorageQuota => {
                "the organisation's storage reached 90 % or 100 % of its quota, or fell back below"
            }
        }
    }
}

/// A webhook endpoint to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventKind>,
}

/// Longest webhook URL.
pub const WEBHOOK_URL_MAX: usize = 2048;

impl NewWebhook {
    /// Checks the URL (absolute `http(s)://`, no credentials, bounded) and that at least one
    /// event is chosen.
    pub fn validate(&self) -> Result<NewWebhook, Vec<FieldError>> {
        let mut errors = Vec::new();
        let url = self.url.trim().to_string();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| {
            let authority = r.split(['/', '?', '#']).next().unwrap_or("");
            !authority.is_empty() && !authority.contains('@') && !authority.contains(' ')
        });
        if !host_ok || url.len() > WEBHOOK_URL_MAX || url.chars().any(char::is_whitespace) {
            errors.push(FieldError::new(
                "url",
                "Endpoint URL",
                url.clone(),
                format!("an http:// or https:// URL of at most {WEBHOOK_URL_MAX} characters"),
            ));
        }
        let mut events = self.events.clone();
        events.sort_by_key(|e| EventKind::ALL.iter().position(|k| k == e));
        events.dedup();
        if events.is_empty() {
            errors.push(FieldError::new(
                "events",
                "Events",
                String::new(),
                "at least one event".into(),
            ));
        }
        if errors.is_empty() {
            Ok(NewWebhook { url, events })
        } else {
            Err(errors)
        }
    }
}

/// Where a delivery stands.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; will be tried (again).
    Pending,
    Delivered,
    /// Gave up after the last retry.
    Failed,
}

impl DeliveryStatus {
    /// Stable key in the database.
    pub fn key(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    /// Parses [`DeliveryStatus::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One attempt series to deliver one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub event: EventKind,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A registered endpoint with its newest deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<EventKind>,
    pub created_at: DateTime<Utc>,
    pub deliveries: Vec<Delivery>,
}

/// A webhook just registered and, this once, its signing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhookCreated {
    pub webhook: Webhook,
    pub secret: String,
}

/// Everything the organisation page shows of integrations (admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrations {
    pub api_keys: Vec<ApiKeyInfo>,
    pub webhooks: Vec<Webhook>,
}

/// One live session of a group, as the API lists it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSession {
    pub id: i64,
    pub group_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str, events: Vec<EventKind>) -> NewWebhook {
        NewWebhook {
            url: url.into(),
            events,
        }
    }

    #[test]
    fn webhook_urls_and_events_are_checked() {
        let ok = hook(" https://example.com/hook ", vec![EventKind::ClipCreated]);
        assert_eq!(
            ok.validate().map(|h| h.url),
            Ok("https://example.com/hook".into())
        );
        for bad in [
            "ftp://x",
            "https://",
            "http://user:pw@host/",
            "not a url",
            "http://a b/",
        ] {
            let e = hook(bad, vec![EventKind::ClipCreated])
                .validate()
                .expect_err(bad);
            assert_eq!(e[0].field, "url", "{bad}");
        }
        let e = hook("http://x", vec![]).validate().expect_err("no events");
        assert_eq!(e[0].field, "events");
        let dup = hook(
            "http://x",
            vec![
                EventKind::JobFailed,
                EventKind::SessionStarted,
                EventKind::JobFailed,
            ],
        )
        .validate()
        .expect("valid");
        assert_eq!(
            dup.events,
            [EventKind::SessionStarted, EventKind::JobFailed]
        );
    }

    #[test]
    fn event_names_round_trip() {
        for e in EventKind::ALL {
            assert_eq!(EventKind::from_key(e.key()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).expect("json"),
                format!("\"{}\"", e.key())
            );
        }
    }

    #[test]
    fn labels_are_bounded() {
        assert_eq!(check_label("name", "Name", " CI "), Ok("CI".into()));
        assert!(check_label("name", "Name", "").is_err());
        assert!(check_label("name", "Name", &"x".repeat(81)).is_err());
    }
}
