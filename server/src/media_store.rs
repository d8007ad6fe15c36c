//! Every path under the data folder is decided here (inside a segment run folder, the
//! segment names are ffmpeg's: set in `ffmpeg::args`, checked when served in `http::media`).
//! Files are written under a temporary name, synced, then renamed into place; HTTP reaches
//! files only through [`MediaStore::resolve`], which refuses anything that could leave the
//! folder.

use std::io;
use std::path::{Component, Path, PathBuf};

/// The ids that place a rendition's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RenditionKey {
    pub organisation_id: i64,
    pub group_id: i64,
    pub session_id: i64,
    pub stream_id: i64,
    /// The session's lease epoch on this node: 1 for the node that started it, more after a
    /// takeover (whose files go to `s{session}e{epoch}`, never beside another epoch's).
    pub epoch: i64,
}

/// The media folder layout: `media/o{org}/g{group}/s{session}/st{stream}/…`.
#[derive(Debug, Clone)]
pub struct MediaStore {
    root: PathBuf,
    /// Where finished files also go, when media is in object storage.
    remote: Option<crate::remote::Remote>,
    /// Replay playlists this node is writing (relative paths). With object storage only these
    /// are read from the data folder: any other node's copy may be behind the store's (a
    /// session taken over continues its playlist on another node).
    writing: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// A session's folder name: `s{session}`, or `s{session}e{epoch}` after a takeover.
pub fn session_dir(session_id: i64, epoch: i64) -> String {
    if epoch <= 1 {
        format!("s{session_id}")
    } else {
        format!("s{session_id}e{epoch}")
    }
}

/// The session and epoch a session folder's name stands for.
pub fn parse_session_dir(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix('s')?;
    match rest.split_once('e') {
        None => Some((rest.parse().ok()?, 1)),
        Some((s, e)) => {
            let epoch: i64 = e.parse().ok()?;
            (epoch > 1).then_some((s.parse().ok()?, epoch))
        }
    }
}

/// The file a replay playlist names, both relative to the data folder: `uri` beside the
/// playlist, or `e{epoch}/…` in the same stream's folder of another epoch of the session
/// (after a takeover the new owner continues the playlist with segments of its own folder).
/// `None` for anything that is not a plain relative name.
pub fn replay_file(playlist: &str, uri: &str) -> Option<String> {
    let (dir, _) = playlist.rsplit_once('/')?;
    if !uri
        .split('/')
        .all(|p| !p.is_empty() && p != "." && p != "..")
    {
        return None;
    }
    let epoch = uri.split_once('/').and_then(|(first, rest)| {
        let n: i64 = first.strip_prefix('e')?.parse().ok()?;
        (n >= 1 && first == format!("e{n}")).then_some((n, rest))
    });
    let Some((epoch, rest)) = epoch else {
        return Some(format!("{dir}/{uri}"));
    };
    let (base, session, stream) = split_rendition(dir)?;
    Some(format!(
        "{base}/{}/{stream}/{rest}",
        session_dir(session, epoch)
    ))
}

/// How a replay playlist names `file` (both relative to the data folder): the inverse of
/// [`replay_file`]; `None` for a file of another stream or session.
pub fn replay_uri(playlist: &str, file: &str) -> Option<String> {
    let (dir, _) = playlist.rsplit_once('/')?;
    if let Some(rest) = file.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
        return Some(rest.to_string());
    }
    let (base, session, stream) = split_rendition(dir)?;
    let rest = file.strip_prefix(base)?.strip_prefix('/')?;
    let (other, rest) = rest.split_once('/')?;
    let (other_session, epoch) = parse_session_dir(other)?;
    let rest = rest.strip_prefix(stream)?.strip_prefix('/')?;
    (other_session == session).then(|| format!("e{epoch}/{rest}"))
}

/// A rendition folder `…/s{session}[e{n}]/st{stream}` as (`…`, session, `st{stream}`).
fn split_rendition(dir: &str) -> Option<(&str, i64, &str)> {
    let (session_part, stream) = dir.rsplit_once('/')?;
    let (base, session_name) = session_part.rsplit_once('/')?;
    let (session, _) = parse_session_dir(session_name)?;
    stream.starts_with("st").then_some((base, session, stream))
}

/// Suffix of files being written.
pub const PART: &str = "part";

impl MediaStore {
    /// A store rooted at the data folder.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: data_dir.into(),
            remote: None,
            writing: Default::default(),
        }
    }

    /// A store rooted at the data folder whose finished files are also uploaded to `remote`.
    pub fn with_remote(
        data_dir: impl Into<PathBuf>,
        remote: Option<crate::remote::Remote>,
    ) -> Self {
        Self {
            root: data_dir.into(),
            remote,
            writing: Default::default(),
        }
    }

    /// The object store finished files go to, if any.
    pub fn remote(&self) -> Option<&crate::remote::Remote> {
        self.remote.as_ref()
    }

    /// This node writes the replay playlist at `rel` (`false`: no longer), so its copy in
    /// the data folder is the newest.
    pub fn set_writing(&self, rel: &str, writing: bool) {
        let mut set = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if writing {
            set.insert(rel.to_string());
        } else {
            set.remove(rel);
        }
    }

    /// The file in the data folder to read for `rel`, when it should be read from there: any
    /// file that is there, except (with object storage) a replay playlist this node is not
    /// writing, which is read from the store.
    pub async fn local_copy(&self, rel: &str) -> Option<PathBuf> {
        let path = self.resolve(rel)?;
        if self.remote.is_some()
            && rel.ends_with("/replay.m3u8")
            && !self
                .writing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(rel)
        {
            return None;
        }
        tokio::fs::try_exists(&path)
            .await
            .unwrap_or(false)
            .then_some(path)
    }

    /// Where every media file lives.
    pub fn media_root(&self) -> PathBuf {
        self.root.join("media")
    }

    /// A rendition's folder in a session.
    pub fn rendition(&self, k: RenditionKey) -> PathBuf {
        self.media_root()
            .join(format!("o{}", k.organisation_id))
            .join(format!("g{}", k.group_id))
            .join(session_dir(k.session_id, k.epoch))
            .join(format!("st{}", k.stream_id))
    }

    /// Every segment folder of a rendition (one per ffmpeg run).
    pub fn segments_root(&self, k: RenditionKey) -> PathBuf {
        self.rendition(k).join("segments")
    }

    /// Where files fetched from the object store for one job wait (a clip cut on a node that
    /// is not the replay's owner); emptied at start-up.
    pub fn scratch_root(&self) -> PathBuf {
        self.root.join("scratch")
    }

    /// Where start-up repair moves what it cannot settle, one folder per start.
    pub fn quarantine_root(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// The segments one ffmpeg run writes for a rendition.
    pub fn segments(&self, k: RenditionKey, run: u32) -> PathBuf {
        self.segments_root(k).join(format!("r{run}"))
    }

    /// The replay playlist of a rendition's session.
    pub fn replay_playlist(&self, k: RenditionKey) -> PathBuf {
        self.rendition(k).join("replay.m3u8")
    }

    /// A recording file (without the `.part` suffix).
    pub fn recording(&self, k: RenditionKey, index: u32) -> PathBuf {
        self.rendition(k)
            .join("recordings")
            .join(format!("recording-{index:04}.mp4"))
    }

    /// A thumbnail, named by the media time it shows (milliseconds).
    pub fn thumbnail(&self, k: RenditionKey, media_ms: u64, ext: &str) -> PathBuf {
        self.rendition(k)
            .join("thumbnails")
            .join(format!("t{media_ms:010}.{ext}"))
    }

    /// A motion clip, named by the media time it ends at (milliseconds), under `motion/`
    /// (data folders of earlier versions have them under `clips/`; their rows keep working).
    pub fn motion_clip(&self, k: RenditionKey, media_ms: u64, ext: &str) -> PathBuf {
        self.rendition(k)
            .join("motion")
            .join(format!("c{media_ms:010}.{ext}"))
    }

    /// The folder of a shared clip: `media/o{org}/clips/{name}`.
    pub fn clip_dir(&self, organisation_id: i64, name: &str) -> PathBuf {
        self.media_root()
            .join(format!("o{organisation_id}"))
            .join("clips")
            .join(name)
    }

    /// Whether `path` is a clip folder (and nothing above or beside one).
    pub fn is_clip_dir(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(self.media_root()) else {
            return false;
        };
        let parts: Vec<_> = rel.components().collect();
        matches!(parts.as_slice(), [Component::Normal(o), Component::Normal(c), Component::Normal(_)]
            if o.to_str().is_some_and(|o| o.starts_with('o')) && c.to_str() == Some("clips"))
    }

    /// A span of a replay saved as a recording, named by the time it starts.
    pub fn saved_recording(
        &self,
        k: RenditionKey,
        starts: chrono::DateTime<chrono::Utc>,
    ) -> PathBuf {
        self.rendition(k)
            .join("recordings")
            .join(format!("saved-{}.mp4", starts.format("%Y%m%dT%H%M%S%.3fZ")))
    }

    /// The path relative to the data folder, with `/` separators, as stored in asset rows.
    pub fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        let parts: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<_>>()?;
        Some(parts.join("/"))
    }

    /// A stored relative path back to a file path; `None` for anything absolute, with `..`,
    /// or otherwise able to leave the data folder.
    pub fn resolve(&self, relative: &str) -> Option<PathBuf> {
        if relative.contains('\\') || relative.contains('\0') {
            return None;
        }
        // Every part must be a plain name: no empty parts (absolute or `//`), no `.` or `..`.
        if !relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        {
            return None;
        }
        let rel = Path::new(relative);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return None;
        }
        Some(self.root.join(rel))
    }

    /// The temporary name a file is written under.
    pub fn part(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".");
        p.push(PART);
        PathBuf::from(p)
    }

    /// Makes a written `.part` file final: fsync, rename, fsync the folder. Returns its size.
    pub async fn publish(part: &Path, target: &Path) -> io::Result<u64> {
        let file = tokio::fs::OpenOptions::new().read(true).open(part).await?;
        file.sync_all().await?;
        let size = file.metadata().await?.len();
        drop(file);
        tokio::fs::rename(part, target).await?;
        if let Some(dir) = target.parent() {
            if let Ok(d) = tokio::fs::File::open(dir).await {
                let _ = d.sync_all().await;
            }
        }
        Ok(size)
    }

    /// Writes a small file atomically (write `.part`, sync, rename).
    pub async fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
        let part = Self::part(target);
        tokio::fs::write(&part, bytes).await?;
        Self::publish(&part, target).await.map(|_| ())
    }

    /// Replaces a file that is rewritten every second (a live playlist): readers never see
    /// a partial file (rename), but there is no fsync — on ext4 each fsync can wait for other
    /// files' data, and a lost playlist is rebuilt at start-up anyway.
    pub async fn replace(target: &Path, bytes: &[u8]) -> io::Result<()> {
        let part = Self::part(target);
        tokio::fs::write(&part, bytes).await?;
        tokio::fs::rename(&part, target).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replay_uris_reach_other_epochs_of_the_same_stream_only() {
        let playlist = "media/o1/g2/s5/st3/replay.m3u8";
        let own = "media/o1/g2/s5/st3/segments/r0/seg_000001.m4s";
        let later = "media/o1/g2/s5e2/st3/segments/r7/seg_000004.m4s";
        assert_eq!(
            replay_uri(playlist, own).as_deref(),
            Some("segments/r0/seg_000001.m4s")
        );
        assert_eq!(
            replay_uri(playlist, later).as_deref(),
            Some("e2/segments/r7/seg_000004.m4s")
        );
        for (file, uri) in [
            (own, "segments/r0/seg_000001.m4s"),
            (later, "e2/segments/r7/seg_000004.m4s"),
        ] {
            assert_eq!(replay_file(playlist, uri).as_deref(), Some(file));
        }
        // From a playlist an epoch-2 node started, epoch 1's folder is `e1/`.
        let second = "media/o1/g2/s5e2/st3/replay.m3u8";
        assert_eq!(
            replay_uri(second, own).as_deref(),
            Some("e1/segments/r0/seg_000001.m4s")
        );
        assert_eq!(
            replay_file(second, "e1/segments/r0/seg_000001.m4s").as_deref(),
            Some(own)
        );
        // Another stream or session is never named.
        assert_eq!(
            replay_uri(playlist, "media/o1/g2/s6e2/st3/segments/r0/x.m4s"),
            None
        );
        assert_eq!(
            replay_uri(playlist, "media/o1/g2/s5e2/st4/segments/r0/x.m4s"),
            None
        );
        for bad in [
            "../st4/segments/r0/x.m4s",
            "e2/../../s6/x",
            "/etc/passwd",
            "e2//x",
            "./x",
        ] {
            assert_eq!(replay_file(playlist, bad), None, "{bad}");
        }
        assert_eq!(
            replay_file(playlist, "e02/segments/r0/x.m4s").as_deref(),
            Some("media/o1/g2/s5/st3/e02/segments/r0/x.m4s"),
            "not an epoch: an (unservable) name beside the playlist"
        );
    }

    use super::*;

    #[test]
    fn layout_and_relative_paths() {
        let s = MediaStore::new("/data");
        let k = RenditionKey {
            organisation_id: 1,
            group_id: 2,
            session_id: 3,
            stream_id: 4,
            epoch: 1,
        };
        let p = s.thumbnail(k, 12_345, "jpg");
        assert_eq!(
            p,
            Path::new("/data/media/o1/g2/s3/st4/thumbnails/t0000012345.jpg")
        );
        assert_eq!(
            s.relative(&p).as_deref(),
            Some("media/o1/g2/s3/st4/thumbnails/t0000012345.jpg")
        );
        assert_eq!(
            s.resolve("media/o1/x.jpg"),
            Some(PathBuf::from("/data/media/o1/x.jpg"))
        );
        // After a takeover, the epoch's own folder.
        let taken = RenditionKey { epoch: 3, ..k };
        assert_eq!(s.rendition(taken), Path::new("/data/media/o1/g2/s3e3/st4"));
        assert_eq!(parse_session_dir("s3"), Some((3, 1)));
        assert_eq!(parse_session_dir("s3e3"), Some((3, 3)));
        assert_eq!(parse_session_dir("s3e1"), None);
        assert_eq!(parse_session_dir("s3e"), None);
        assert_eq!(parse_session_dir("sx"), None);
        assert_eq!(
            MediaStore::part(&p),
            Path::new("/data/media/o1/g2/s3/st4/thumbnails/t0000012345.jpg.part")
        );
        assert_eq!(s.relative(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn clip_folders_are_recognised() {
        let s = MediaStore::new("/data");
        let dir = s.clip_dir(3, "abc");
        assert_eq!(dir, Path::new("/data/media/o3/clips/abc"));
        assert!(s.is_clip_dir(&dir));
        assert!(!s.is_clip_dir(Path::new("/data/media/o3/clips")));
        assert!(!s.is_clip_dir(Path::new("/data/media/o3/g1/s1")));
        assert!(!s.is_clip_dir(Path::new("/data")));
    }

    #[test]
    fn nothing_resolves_outside_the_data_folder() {
        let s = MediaStore::new("/data");
        for bad in [
            "",
            "/etc/passwd",
            "../etc/passwd",
            "media/../../etc/passwd",
            "media/./x",
            "a\\..\\b",
            "a\0b",
        ] {
            assert_eq!(s.resolve(bad), None, "{bad:?}");
        }
    }
}
