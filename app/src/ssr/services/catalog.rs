//! Sessions and assets as integrators page through them: filters (group, stream, session,
//! kind, time range) and opaque cursors. Checked like everything else: the role, the
//! package, and other organisations' ids read as not found.

use chrono::{DateTime, Utc};

use super::super::auth::Caller;
use super::super::repo;
use super::super::state::{AppState, OrInternal};
use super::require_package;
use super::streams::find_group;
use crate::domain::assets::{Asset, AssetKind};
use crate::domain::integrations::LiveSession;
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::{AppError, FieldError};

/// Default and largest page size.
pub const PAGE_DEFAULT: i64 = 50;
pub const PAGE_MAX: i64 = 100;

/// How to page: where to continue, how many, which time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The checked limit and the id to continue below.
fn window(p: &Paging) -> Result<(i64, Option<i64>), AppError> {
    let mut errors = Vec::new();
    let limit = p.limit.unwrap_or(PAGE_DEFAULT);
    if !(1..=PAGE_MAX).contains(&limit) {
        errors.push(FieldError::new(
            "limit",
            "Page size",
            limit.to_string(),
            format!("1–{PAGE_MAX}"),
        ));
    }
    let before = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => match c.strip_prefix('c').and_then(|n| n.parse::<i64>().ok()) {
            Some(id) if id > 0 => Some(id),
            _ => {
                errors.push(FieldError::new(
                    "cursor",
                    "Cursor",
                    c.to_string(),
                    "a next_cursor from an earlier page".into(),
                ));
                None
            }
        },
    };
    if let (Some(from), Some(to)) = (p.from, p.to) {
        if to <= from {
            errors.push(FieldError::new(
                "to",
                "End of the time range",
                to.to_rfc3339(),
                "a time after `from`".into(),
            ));
        }
    }
    if errors.is_empty() {
        Ok((limit, before))
    } else {
        Err(AppError::Validation(errors))
    }
}

fn paged<T>(mut items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|t| format!("c{}", id(t))))
        .flatten();
    Page { items, next_cursor }
}

/// The organisation's live sessions, newest first (optionally of one group).
pub async fn sessions(
    state: &AppState,
    caller: &Caller,
    group_id: Option<i64>,
    paging: &Paging,
) -> Result<Page<LiveSession>, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let (limit, before) = window(paging)?;
    if let Some(id) = group_id {
        find_group(state, caller, id).await?;
    }
    let rows = repo::live_sessions::page(
        &state.db,
        caller.organisation_id,
        group_id,
        paging.from,
        paging.to,
        before,
        limit + 1,
    )
    .await
    .or_internal()?;
    Ok(paged(rows, limit, |s| s.id))
}

/// What to list of assets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetFilter {
    pub stream_id: Option<i64>,
    pub session_id: Option<i64>,
    pub kind: Option<AssetKind>,
}

/// The organisation's assets, newest first.
pub async fn assets(
    state: &AppState,
    caller: &Caller,
    filter: AssetFilter,
    paging: &Paging,
) -> Result<Page<Asset>, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let (limit, before) = window(paging)?;
    if let Some(stream) = filter.stream_id {
        repo::streams::group_of_stream(&state.db, caller.organisation_id, stream)
            .await
            .or_internal()?
            .ok_or_else(|| AppError::NotFound("Stream".into()))?;
    }
    let rows = repo::assets::page(
        &state.db,
        caller.organisation_id,
        filter.stream_id,
        filter.session_id,
        filter.kind,
        paging.from,
        paging.to,
        before,
        limit + 1,
    )
    .await
    .or_internal()?;
    Ok(paged(
        rows.into_iter().map(|r| r.asset).collect(),
        limit,
        |a| a.id,
    ))
}

/// One asset of the organisation with its path relative to the data folder (for serving).
pub async fn asset_file(
    state: &AppState,
    caller: &Caller,
    asset_id: i64,
) -> Result<repo::assets::AssetRow, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    repo::assets::get(&state.db, asset_id)
        .await
        .or_internal()?
        .filter(|r| r.organisation_id == caller.organisation_id)
        .ok_or_else(|| AppError::NotFound("Asset".into()))
}

/// The newest thumbnail of a stream (`jpeg` or `webp`).
pub async fn latest_thumbnail(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
    format: &str,
) -> Result<repo::assets::AssetRow, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    repo::streams::group_of_stream(&state.db, caller.organisation_id, stream_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream".into()))?;
    repo::assets::latest(&state.db, stream_id, AssetKind::Thumbnail, format)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Thumbnail".into()))
}

/// What start-up repair moved to the quarantine from the caller's organisation (admins).
pub async fn quarantined(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<crate::domain::assets::QuarantinedFile>, AppError> {
    caller.require(Permission::ManageMembers)?;
    repo::instance::quarantined_of(&state.db, caller.organisation_id, 200)
        .await
        .or_internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_limits_are_checked() {
        let ok = Paging {
            cursor: Some("c42".into()),
            limit: Some(10),
            ..Paging::default()
        };
        assert_eq!(window(&ok).ok(), Some((10, Some(42))));
        for bad in [
            Paging {
                limit: Some(0),
                ..Paging::default()
            },
            Paging {
                limit: Some(101),
                ..Paging::default()
            },
            Paging {
                cursor: Some("42".into()),
                ..Paging::default()
            },
            Paging {
                cursor: Some("c-1".into()),
                ..Paging::default()
            },
        ] {
            assert!(
                matches!(window(&bad), Err(AppError::Validation(_))),
                "{bad:?}"
            );
        }
        let page = paged(vec![5, 4, 3], 2, |n| *n);
        assert_eq!(page.items, [5, 4]);
        assert_eq!(page.next_cursor.as_deref(), Some("c4"));
        assert_eq!(paged(vec![5], 2, |n| *n).next_cursor, None);
    }
}
