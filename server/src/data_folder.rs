//! One server per data folder, and the folder tied to its database. The folder is locked
//! exclusively (`.lock`, `flock`) for as long as the server runs, so a second server on the
//! same folder refuses to start instead of ending the first one's sessions and truncating its
//! recordings. The folder carries an id (`.identity`) that the database also records: a
//! database pointed at another folder (or at an empty, unmounted one) refuses to start
//! instead of treating every file as missing. In a cluster every node has its own folder and
//! the database knows them all (`nodes`): the folder's id is the node's id.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use app::ssr::db::Db;
use app::ssr::{repo, tokens};
use nix::fcntl::{Flock, FlockArg};

/// The lock file, inside the data folder.
const LOCK: &str = ".lock";
/// The id file, inside the data folder.
const IDENTITY: &str = ".identity";

/// Why the data folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FolderError {
    #[error(
        "another server is using the data folder {0} (it holds {0}/.lock); stop it, or give \
         this one its own --data-dir"
    )]
    InUse(PathBuf),
    #[error(
        "the data folder {folder} (id {folder_id}) does not belong to this database (which \
         knows {nodes} other data folder(s)): check --data-dir and --database-url"
    )]
    Mismatch {
        folder: PathBuf,
        folder_id: String,
        nodes: i64,
    },
    #[error(
        "this database was used with {nodes} data folder(s) but {folder} has no .identity: \
         is the right folder mounted? Check --data-dir and --database-url (or pass --cluster \
         to start a new node on this shared database)"
    )]
    FolderMissing { folder: PathBuf, nodes: i64 },
    #[error(
        "the data folder {folder} (id {folder_id}) was used with another database, and this \
         one is new: check --database-url (or remove {folder}/.identity to adopt the folder \
         with this database)"
    )]
    DatabaseNew { folder: PathBuf, folder_id: String },
    #[error("data folder {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The locked data folder; the lock is released when this is dropped (or the process dies).
#[derive(Debug)]
pub(crate) struct DataFolder {
    _lock: Flock<File>,
    /// The folder's id (also in the database).
    pub(crate) id: String,
}

/// Locks the folder (refusing if another server holds it).
pub(crate) fn lock(dir: &Path) -> Result<Flock<File>, FolderError> {
    std::fs::create_dir_all(dir).map_err(|e| FolderError::Io(dir.to_path_buf(), e))?;
    let path = dir.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| FolderError::Io(path.clone(), e))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|_| FolderError::InUse(dir.to_path_buf()))
}

fn read_identity(dir: &Path) -> Result<Option<String>, FolderError> {
    match std::fs::read_to_string(dir.join(IDENTITY)) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FolderError::Io(dir.join(IDENTITY), e)),
    }
}

fn write_identity(dir: &Path, id: &str) -> Result<(), FolderError> {
    let tmp = dir.join(format!("{IDENTITY}.part"));
    let io = |e| FolderError::Io(dir.join(IDENTITY), e);
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(IDENTITY)).map_err(io)?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// Locks the data folder and checks it belongs to the database: the folder's id must be
/// one of the database's nodes. A folder without an id becomes a new node when the database
/// has none yet, or when `cluster` says the database is shared by several nodes; otherwise a
/// database that has nodes refuses it (an unmounted folder must not look like an empty one).
pub(crate) async fn open(dir: &Path, db: &Db, cluster: bool) -> Result<DataFolder, FolderError> {
    let lock = lock(dir)?;
    let folder_id = read_identity(dir)?;
    let nodes = repo::nodes::count(db).await?;
    let id = match folder_id {
        Some(f) if repo::nodes::exists(db, &f).await? => f,
        Some(f) if nodes == 0 => {
            return Err(FolderError::DatabaseNew {
                folder: dir.to_path_buf(),
                folder_id: f,
            })
        }
        Some(f) => {
            return Err(FolderError::Mismatch {
                folder: dir.to_path_buf(),
                folder_id: f,
                nodes,
            })
        }
        None if nodes > 0 && !cluster => {
            return Err(FolderError::FolderMissing {
                folder: dir.to_path_buf(),
                nodes,
            })
        }
        None => {
            // A new node: the folder and the database get the same new id.
            let id = format!("df_{}", tokens::new_share_token());
            write_identity(dir, &id)?;
            repo::nodes::register(db, &id, chrono::Utc::now()).await?;
            tracing::info!(node.id = %id, "data folder identified as a new node");
            id
        }
    };
    Ok(DataFolder { _lock: lock, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_folder_is_locked_once_and_tied_to_its_database() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let db = app::ssr::db::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
            .await
            .expect("db");
        let first = open(&data, &db, false).await.expect("first start");
        let first_id = first.id.clone();
        assert!(
            matches!(open(&data, &db, false).await, Err(FolderError::InUse(_))),
            "a second server is refused"
        );
        drop(first);
        let again = open(&data, &db, false)
            .await
            .expect("the lock is released with the server");
        drop(again);
        // Another database on this folder: refused.
        let other =
            app::ssr::db::connect(&format!("sqlite://{}", dir.path().join("b.db").display()))
                .await
                .expect("db");
        let err = open(&data, &other, false)
            .await
            .expect_err("another database");
        assert!(matches!(err, FolderError::DatabaseNew { .. }), "{err}");
        assert!(err.to_string().contains("--database-url"));
        // This database on an empty (unmounted) folder: refused.
        let err = open(&dir.path().join("empty"), &db, false)
            .await
            .expect_err("empty folder");
        assert!(matches!(err, FolderError::FolderMissing { .. }), "{err}");
        // Two identified halves that do not match: refused.
        let other_folder = dir.path().join("other");
        open(&other_folder, &other, false)
            .await
            .expect("its own pair");
        let err = open(&other_folder, &db, false).await.expect_err("mismatch");
        assert!(matches!(err, FolderError::Mismatch { .. }), "{err}");
        // A cluster: a second, empty folder joins the database as a new node, and then is
        // one of its folders without the flag.
        let second = dir.path().join("second-node");
        let node = open(&second, &db, true).await.expect("joins");
        assert_ne!(node.id, first_id);
        drop(node);
        assert_eq!(repo::nodes::count(&db).await.expect("count"), 2);
        open(&second, &db, false).await.expect("a known node");
        // An identified folder of another database still does not join.
        let err = open(&other_folder, &db, true).await.expect_err("mismatch");
        assert!(matches!(err, FolderError::Mismatch { .. }), "{err}");
    }
}
