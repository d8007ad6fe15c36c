//! What the streams of one live session share: each rendition's video size, its recent
//! segments and the motion clips it has due, so that a transcoding group makes a motion clip
//! once, from its cheapest rendition that is wide enough, instead of decoding the source once
//! per profile.
//!
//! A motion clip is at most [`CLIP_MAX_WIDTH`] wide, so every rendition at least that wide
//! (with the same shape) yields the same pictures. The narrowest of them leads: its worker
//! cuts its clips as any stream does and says here when each one is made. The others follow:
//! a follower's clip of the same window is a hard link to the leader's files; a window the
//! leader has no clip for is cut from the leader's segments (a 360p decode instead of a
//! 1080p one). Whatever goes wrong on the way (the leader is late, its clip failed or was
//! shed, a file went away), the follower cuts the clip from its own segments, as before:
//! sharing saves work and never loses a clip.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::error::JobError;
use super::segment::Segment;
use crate::ffmpeg::args::{CLIP_MAX_WIDTH, THUMBNAIL_MAX};
use crate::media_store::MediaStore;

/// Media seconds two windows' ends may differ by and still be the same clip (under a frame
/// at 30 fps).
const SAME_TIME_S: f64 = 0.03;
/// How long a follower waits for the leader's segments to reach its window's end (the
/// transcoder runs a little behind the ingest's copy).
const FOLLOW_WAIT: Duration = Duration::from_secs(8);
/// A leader whose newest segment ends this many media seconds before the window's end is not
/// waited for (its transcoder stopped, or is far behind).
const STALE_S: f64 = 8.0;
/// Media seconds two segments' starts may differ by and still begin with the same keyframe
/// (an ingest with B-frames starts its segments a few frames earlier than the transcoder).
const SAME_KEYFRAME_S: f64 = 0.25;
/// How long a follower waits for the leader's clip of its window, once due.
const MADE_WAIT: Duration = Duration::from_secs(60);
/// How long a follower waits for the leader's thumbnail, once due: the leader's own job may
/// take 20 s (its ffmpeg's limit) after a short wait for a slot; a follower waiting longer
/// would only delay its next thumbnail.
const THUMBNAIL_MADE_WAIT: Duration = Duration::from_secs(25);
/// How long a leader waits for a narrower stream's segment of the same keyframe (both come
/// from the one transcoder, within milliseconds of each other).
const NARROW_WAIT: Duration = Duration::from_secs(1);
/// How long a narrower stream waits for the leader to say whether it renders its thumbnail.
const DECIDE_WAIT: Duration = Duration::from_secs(3);
/// How long a narrower stream waits for the leader to finish placing its files (a rename or
/// two) once it has begun.
const PLACE_WAIT: Duration = Duration::from_secs(5);
/// Due clips remembered per stream.
const KEEP_DUE: usize = 8;

/// A made clip's or thumbnail's final files: the MP4 or JPEG, and the WebP.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Made {
    pub(crate) main: PathBuf,
    pub(crate) webp: PathBuf,
}

/// What a leader says about one of its clips: `None` until made; the sender dropped without a
/// value means it will not be made (failed or shed).
pub(crate) type Announce = watch::Sender<Option<Made>>;

/// A clip a stream has due.
#[derive(Debug, Clone)]
struct Due {
    from: f64,
    to: f64,
    made: watch::Receiver<Option<Made>>,
}

/// Who makes a narrower stream's thumbnail: a thumbnail leader renders it beside its own,
/// from its one decode of the keyframe, when it claims it in time; else the stream itself.
/// The two sides move it on with `send_if_modified`, so exactly one of them renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Given {
    /// Nobody decided yet.
    Open,
    /// The leader renders it.
    Claimed,
    /// The leader is moving the rendered files into place.
    Placing,
    /// The stream's files are in place.
    Placed,
    /// The leader could not make it.
    Failed,
    /// The stream makes its own (nothing of the leader's may land there).
    Own,
}

/// A thumbnail a stream has due.
#[derive(Debug, Clone)]
struct ThumbDue {
    /// The start of the segment whose first keyframe it shows.
    start: f64,
    made: watch::Receiver<Option<Made>>,
    /// A narrower stream's: who renders it. A leader's own: `Own` once it has made its
    /// claims for this keyframe (none will follow).
    given: Arc<watch::Sender<Given>>,
}

/// Moves `given` to `to` if it is in one of `from`: whether it did. Each side of a claim
/// moves it on only through here, so exactly one of them wins each step.
fn advance(given: &watch::Sender<Given>, from: &[Given], to: Given) -> bool {
    given.send_if_modified(|g| {
        let moved = from.contains(g);
        if moved {
            *g = to;
        }
        moved
    })
}

/// A narrower stream's thumbnail a leader claimed: render it at `size` for that stream, then
/// [`Claim::placing`] and [`Claim::done`].
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) stream_id: i64,
    /// The start of that stream's segment (its thumbnail's name).
    pub(crate) start: f64,
    pub(crate) size: (u32, u32),
    given: Arc<watch::Sender<Given>>,
}

impl Claim {
    /// Takes the claim to placing: `false` when the stream gave up waiting and makes its own
    /// (the rendered files are then the leader's to remove).
    pub(crate) fn placing(&self) -> bool {
        advance(&self.given, &[Given::Claimed], Given::Placing)
    }

    /// Tells the stream how it ended: its files are in place, or it makes its own.
    pub(crate) fn done(&self, placed: bool) {
        let next = if placed { Given::Placed } else { Given::Failed };
        advance(&self.given, &[Given::Claimed, Given::Placing], next);
    }
}

impl Drop for Claim {
    /// A claim dropped unfinished (an error, the session stopping) lets the stream make its own.
    fn drop(&mut self) {
        self.done(false);
    }
}

/// One stream's part of the board.
#[derive(Debug, Default)]
struct Recent {
    size: Option<(u32, u32)>,
    segments: Vec<Segment>,
    due: VecDeque<Due>,
    thumbs: VecDeque<ThumbDue>,
}

impl Recent {
    fn end(&self) -> f64 {
        self.segments.last().map(Segment::end).unwrap_or(f64::MIN)
    }

    fn newest_start(&self) -> f64 {
        self.segments.last().map(|s| s.start).unwrap_or(f64::MIN)
    }

    /// The thumbnail due at the keyframe at `start` (segment starts within
    /// [`SAME_KEYFRAME_S`]).
    fn thumbnail_near(&self, start: f64) -> Option<&ThumbDue> {
        self.thumbs
            .iter()
            .find(|t| (t.start - start).abs() < SAME_KEYFRAME_S)
    }
}

/// Where a follower's clip comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// The leader made this window: link its files.
    Made(Made),
    /// Cut the window from these segments of the leader (one run, covering it).
    Segments(Vec<Segment>),
}

/// The board of one session: one entry per stream, written by that stream's worker only.
#[derive(Debug)]
pub(crate) struct Board {
    streams: HashMap<i64, watch::Sender<Recent>>,
}

impl Board {
    pub(crate) fn new(stream_ids: impl IntoIterator<Item = i64>) -> Self {
        Self {
            streams: stream_ids
                .into_iter()
                .map(|id| (id, watch::Sender::new(Recent::default())))
                .collect(),
        }
    }

    /// A stream's video size, read from its init segment.
    pub(crate) fn set_size(&self, stream_id: i64, size: (u32, u32)) {
        if let Some(tx) = self.streams.get(&stream_id) {
            tx.send_if_modified(|r| {
                let changed = r.size != Some(size);
                r.size = Some(size);
                changed
            });
        }
    }

    /// A stream's segments kept now (called after each segment, once its clips due are told).
    pub(crate) fn set_segments<'a>(
        &self,
        stream_id: i64,
        segments: impl IntoIterator<Item = &'a Segment>,
    ) {
        if let Some(tx) = self.streams.get(&stream_id) {
            tx.send_modify(|r| {
                r.segments.clear();
                r.segments.extend(segments.into_iter().cloned());
            });
        }
    }

    /// A stream has the clip `[from, to]` due: returns where to say when it is made.
    pub(crate) fn clip_due(&self, stream_id: i64, from: f64, to: f64) -> Announce {
        let (tx, rx) = watch::channel(None);
        if let Some(board) = self.streams.get(&stream_id) {
            board.send_modify(|r| {
                if r.due.len() == KEEP_DUE {
                    r.due.pop_front();
                }
                r.due.push_back(Due { from, to, made: rx });
            });
        }
        tx
    }

    /// A stream has a thumbnail of the segment starting at `start` due: returns where to say
    /// when it is made.
    pub(crate) fn thumbnail_due(&self, stream_id: i64, start: f64) -> Announce {
        let (tx, rx) = watch::channel(None);
        if let Some(board) = self.streams.get(&stream_id) {
            board.send_modify(|r| {
                if r.thumbs.len() == KEEP_DUE {
                    r.thumbs.pop_front();
                }
                r.thumbs.push_back(ThumbDue {
                    start,
                    made: rx,
                    given: Arc::new(watch::Sender::new(Given::Open)),
                });
            });
        }
        tx
    }

    /// The leader's thumbnail of the segment starting at `start` (the same keyframe), once
    /// made; `None` when it has none in time (the caller makes its own).
    pub(crate) async fn follow_thumbnail(&self, leader: i64, start: f64) -> Option<Made> {
        let mut made = self.leader_thumbnail(leader, start).await?.made;
        let made = tokio::time::timeout(THUMBNAIL_MADE_WAIT, made.wait_for(Option::is_some))
            .await
            .ok()?
            .ok()?
            .clone();
        made
    }

    /// The stream whose clips `stream_id` follows: of the streams as wide as a clip or wider
    /// and of the same shape, the narrowest (the lowest id among equals), unless that is
    /// `stream_id` itself. Streams narrower than a clip make their own (a smaller picture).
    pub(crate) fn leader(&self, stream_id: i64) -> Option<i64> {
        self.leader_at(stream_id, CLIP_MAX_WIDTH)
    }

    /// The stream whose thumbnails `stream_id` follows: the same rule for the thumbnail's
    /// largest width (an ingest of 1080p follows a 720p profile: both give 1280x720).
    pub(crate) fn thumbnail_leader(&self, stream_id: i64) -> Option<i64> {
        self.leader_at(stream_id, THUMBNAIL_MAX.0)
    }

    /// The thumbnail leader that renders `stream_id`'s thumbnails beside its own, for a
    /// stream narrower than a thumbnail's largest width: the leader its wider streams of the
    /// same shape follow. Its thumbnail is then its own size, scaled from the leader's
    /// keyframe instead of decoded from its own (fewer bits: a sharper picture).
    pub(crate) fn thumbnail_renderer(&self, stream_id: i64) -> Option<i64> {
        let own = self.streams.get(&stream_id)?.borrow().size?;
        if own.0 >= THUMBNAIL_MAX.0 {
            return None;
        }
        self.narrowest_at_least(own, THUMBNAIL_MAX.0)
    }

    /// The streams narrower than a thumbnail whose thumbnail `leader` renders.
    fn rendered_by(&self, leader: i64) -> Vec<(i64, (u32, u32))> {
        self.streams
            .iter()
            .filter(|&(&id, _)| self.thumbnail_renderer(id) == Some(leader))
            .filter_map(|(&id, tx)| Some((id, tx.borrow().size?)))
            .collect()
    }

    /// Claims, for `leader`'s thumbnail of the keyframe at `start`, the narrower streams'
    /// thumbnails due at the same keyframe (waiting [`NARROW_WAIT`] at most for each to
    /// reach it), so that the leader renders them from its one decode.
    pub(crate) async fn claim_narrow(&self, leader: i64, start: f64) -> Vec<Claim> {
        let mut claims = Vec::new();
        for (id, size) in self.rendered_by(leader) {
            let Some(due) = self.thumbnail_when_there(id, start, NARROW_WAIT).await else {
                continue;
            };
            if advance(&due.given, &[Given::Open], Given::Claimed) {
                claims.push(Claim {
                    stream_id: id,
                    start: due.start,
                    size,
                    given: due.given,
                });
            }
        }
        // Closed: a narrower stream that came too late stops waiting for a claim now.
        if let Some(given) = self.given_at(leader, start) {
            given.send_replace(Given::Own);
        }
        claims
    }

    /// For a narrower stream: whether `leader` put its thumbnail of the keyframe at `start`
    /// in place. `false` (and from then on the leader leaves it alone) when the leader did
    /// not claim it in time, failed, or took too long: the stream renders its own.
    pub(crate) async fn rendered_for(&self, stream_id: i64, leader: i64, start: f64) -> bool {
        let Some(given) = self.given_at(stream_id, start) else {
            return false;
        };
        // Nobody renders it but this stream from now on, unless the leader was quicker.
        let own = || advance(&given, &[Given::Open, Given::Claimed], Given::Own);
        let ended = |g: &Given| matches!(*g, Given::Placed | Given::Failed | Given::Own);
        let mut rx = given.subscribe();
        // The leader claims it as its own thumbnail job starts, once its segment of the same
        // keyframe is here (with the job due then): wait for that segment, then the claim.
        if let Some(leader_due) = self.leader_thumbnail(leader, start).await {
            // Its claims are made before it closes them: once closed, a claim is visible.
            let mut closed = leader_due.given.subscribe();
            let _ = tokio::time::timeout(DECIDE_WAIT, async {
                tokio::select! {
                    _ = rx.wait_for(|g| *g != Given::Open) => {}
                    _ = closed.wait_for(|g| *g != Given::Open) => {}
                }
            })
            .await;
        }
        let decided = *rx.borrow() != Given::Open;
        if !decided && own() {
            return false;
        }
        let over = tokio::time::timeout(THUMBNAIL_MADE_WAIT, rx.wait_for(ended))
            .await
            .is_ok();
        if !over && own() {
            return false;
        }
        // Placing is a rename or two: let it end.
        let last = tokio::time::timeout(PLACE_WAIT, rx.wait_for(ended)).await;
        matches!(last, Ok(Ok(g)) if *g == Given::Placed)
    }

    /// `leader`'s thumbnail due at the keyframe at `start`, once its segment of that
    /// keyframe is here; `None` when the leader is stale, does not get there within
    /// [`FOLLOW_WAIT`], or has none due there.
    async fn leader_thumbnail(&self, leader: i64, start: f64) -> Option<ThumbDue> {
        self.thumbnail_when_there(leader, start, FOLLOW_WAIT).await
    }

    /// `stream_id`'s thumbnail due at the keyframe at `start`, once its segment of that
    /// keyframe is here (its dues are told before its segments), waiting `wait` at most;
    /// `None` at once when the stream is stale (its newest segment [`STALE_S`] before).
    async fn thumbnail_when_there(
        &self,
        stream_id: i64,
        start: f64,
        wait: Duration,
    ) -> Option<ThumbDue> {
        let mut rx = self.streams.get(&stream_id)?.subscribe();
        if rx.borrow().newest_start() < start - STALE_S {
            return None;
        }
        let there = rx.wait_for(|r| r.newest_start() >= start - SAME_KEYFRAME_S);
        let r = tokio::time::timeout(wait, there).await.ok()?.ok()?;
        r.thumbnail_near(start).cloned()
    }

    /// Who renders `stream_id`'s thumbnail due at exactly `start` (its own segment's start).
    fn given_at(&self, stream_id: i64, start: f64) -> Option<Arc<watch::Sender<Given>>> {
        let r = self.streams.get(&stream_id)?.borrow();
        let due = r.thumbs.iter().find(|t| t.start == start)?;
        Some(due.given.clone())
    }

    fn leader_at(&self, stream_id: i64, min_width: u32) -> Option<i64> {
        let own = self.streams.get(&stream_id)?.borrow().size?;
        if own.0 < min_width {
            return None;
        }
        self.narrowest_at_least(own, min_width)
            .filter(|&id| id != stream_id)
    }

    /// Of the streams at least `min_width` wide and of `own`'s shape, the narrowest (the
    /// lowest id among equals).
    fn narrowest_at_least(&self, own: (u32, u32), min_width: u32) -> Option<i64> {
        let same_shape = |(w, h): (u32, u32)| {
            let (a, b) = (
                u64::from(w) * u64::from(own.1),
                u64::from(own.0) * u64::from(h),
            );
            a.abs_diff(b) * 100 <= a.max(b)
        };
        self.streams
            .iter()
            .filter_map(|(&id, tx)| Some((id, tx.borrow().size?)))
            .filter(|&(_, size)| size.0 >= min_width && same_shape(size))
            .min_by_key(|&(id, (w, _))| (w, id))
            .map(|(id, _)| id)
    }

    /// Where the clip `[from, to]` can come from in `leader`'s work: its clip of that window
    /// once made, else its segments covering the window. `None` when the leader has neither
    /// in time (the caller cuts its own).
    pub(crate) async fn follow(&self, leader: i64, from: f64, to: f64) -> Option<Source> {
        let mut rx = self.streams.get(&leader)?.subscribe();
        if rx.borrow().end() < to - STALE_S {
            return None;
        }
        let ready = tokio::time::timeout(FOLLOW_WAIT, rx.wait_for(|r| r.end() >= to - SAME_TIME_S));
        let (due, segments) = {
            let r = ready.await.ok()?.ok()?;
            let due = r
                .due
                .iter()
                .find(|d| (d.to - to).abs() < SAME_TIME_S && (d.from - from).abs() < SAME_TIME_S)
                .map(|d| d.made.clone());
            (due, covering(&r.segments, from, to))
        };
        if let Some(mut made) = due {
            let waited = tokio::time::timeout(MADE_WAIT, made.wait_for(Option::is_some)).await;
            if let Ok(Ok(m)) = waited {
                if let Some(m) = m.clone() {
                    return Some(Source::Made(m));
                }
            }
        }
        segments.map(Source::Segments)
    }
}

/// Gives `target` the files of `made`: hard links (a copy where links cannot be made), so each
/// stream's files live and are deleted on their own. Returns their sizes.
pub(crate) async fn link(made: &Made, target: &Made) -> Result<(u64, u64), JobError> {
    let (main_part, webp_part) = (
        MediaStore::part(&target.main),
        MediaStore::part(&target.webp),
    );
    for (from, part) in [(&made.main, &main_part), (&made.webp, &webp_part)] {
        let _ = tokio::fs::remove_file(part).await;
        if tokio::fs::hard_link(from, part).await.is_err() {
            tokio::fs::copy(from, part)
                .await
                .map_err(JobError::io(from))?;
        }
    }
    publish_both(&main_part, &webp_part, target).await
}

/// Makes the two written `.part` files final; returns their sizes.
pub(crate) async fn publish_both(
    main_part: &Path,
    webp_part: &Path,
    target: &Made,
) -> Result<(u64, u64), JobError> {
    let main = MediaStore::publish(main_part, &target.main)
        .await
        .map_err(JobError::io(&target.main))?;
    let webp = MediaStore::publish(webp_part, &target.webp)
        .await
        .map_err(JobError::io(&target.webp))?;
    Ok((main, webp))
}

/// The segments of one run that cover `[from, to]` without a gap, or `None`.
fn covering(segments: &[Segment], from: f64, to: f64) -> Option<Vec<Segment>> {
    let parts: Vec<Segment> = segments
        .iter()
        .filter(|s| s.end() > from + 0.01 && s.start < to - 0.01)
        .cloned()
        .collect();
    let (first, last) = (parts.first()?, parts.last()?);
    let one_run = parts.iter().all(|s| s.run == first.run);
    let no_gap = parts
        .windows(2)
        .all(|w| (w[1].start - w[0].end()).abs() < SAME_TIME_S);
    (one_run && no_gap && first.start <= from + SAME_TIME_S && last.end() >= to - SAME_TIME_S)
        .then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(run: u32, start: f64) -> Segment {
        Segment {
            run,
            path: PathBuf::from(format!("seg_{start}.m4s")),
            init: PathBuf::from("init.mp4"),
            start,
            duration: 1.0,
            wall: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_narrowest_rendition_wide_enough_and_of_the_same_shape_leads() {
        let b = Board::new([1, 2, 3, 4, 5]);
        assert_eq!(b.leader(1), None, "sizes unknown yet");
        b.set_size(1, (1920, 1080));
        b.set_size(2, (1280, 720));
        b.set_size(3, (640, 360));
        b.set_size(4, (426, 240));
        b.set_size(5, (720, 720));
        assert_eq!(b.leader(1), Some(3));
        assert_eq!(b.leader(2), Some(3));
        assert_eq!(b.leader(3), None, "the leader makes its own");
        assert_eq!(b.leader(4), None, "narrower than a clip: its own picture");
        assert_eq!(b.leader(5), None, "another shape");
        let equal = Board::new([7, 8]);
        equal.set_size(7, (1280, 720));
        equal.set_size(8, (1280, 720));
        assert_eq!((equal.leader(7), equal.leader(8)), (None, Some(7)));
    }

    #[test]
    fn only_whole_windows_of_one_run_are_cut_from_the_leader() {
        let segs: Vec<_> = (0..6).map(|i| seg(0, f64::from(i))).collect();
        let got = covering(&segs, 2.0, 5.0).expect("covered");
        assert_eq!(
            got.iter().map(|s| s.start).collect::<Vec<_>>(),
            [2.0, 3.0, 4.0]
        );
        assert!(covering(&segs, 4.0, 7.0).is_none(), "runs past the end");
        let mut gap = segs.clone();
        gap.remove(3);
        assert!(covering(&gap, 2.0, 5.0).is_none(), "a missing segment");
        let mut two_runs = segs;
        two_runs[3].run = 1;
        assert!(covering(&two_runs, 2.0, 5.0).is_none(), "two ffmpeg runs");
    }

    #[tokio::test]
    async fn a_follower_gets_the_made_clip_the_segments_or_nothing() {
        let b = Board::new([1, 2]);
        let segs: Vec<_> = (0..6).map(|i| seg(0, f64::from(i))).collect();
        // The leader has the window due: the follower waits for it to be made.
        let announce = b.clip_due(1, 3.0, 6.0);
        b.set_segments(1, &segs);
        let made = Made {
            main: "c.mp4".into(),
            webp: "c.webp".into(),
        };
        let (got, ()) = tokio::join!(b.follow(1, 3.0, 6.0), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            announce.send_replace(Some(made.clone()));
        });
        assert!(matches!(got, Some(Source::Made(m)) if m == made));
        // Due but never made (failed or shed): the leader's segments instead.
        drop(b.clip_due(1, 2.0, 5.0));
        assert!(matches!(b.follow(1, 2.0, 5.0).await, Some(Source::Segments(s)) if s.len() == 3));
        // Nothing due there: the segments at once.
        assert!(matches!(
            b.follow(1, 1.0, 4.0).await,
            Some(Source::Segments(_))
        ));
    }

    #[tokio::test]
    async fn a_thumbnail_follows_the_same_keyframe_or_is_made_anew() {
        let b = Board::new([1, 2, 3]);
        b.set_size(1, (1920, 1080));
        b.set_size(2, (1280, 720));
        b.set_size(3, (640, 360));
        assert_eq!(b.thumbnail_leader(1), Some(2), "both give 1280x720");
        assert_eq!(b.thumbnail_leader(2), None);
        assert_eq!(
            b.thumbnail_leader(3),
            None,
            "a smaller thumbnail: not a link"
        );
        assert_eq!(b.thumbnail_renderer(3), Some(2), "rendered by the leader");
        assert_eq!(
            (b.thumbnail_renderer(1), b.thumbnail_renderer(2)),
            (None, None)
        );
        let made = Made {
            main: "t.jpg".into(),
            webp: "t.webp".into(),
        };
        let announce = b.thumbnail_due(2, 10.0);
        b.set_segments(2, &[seg(0, 10.0)]);
        announce.send_replace(Some(made.clone()));
        // The ingest's segment starts 66 ms earlier (B-frames): the same keyframe.
        assert_eq!(b.follow_thumbnail(2, 9.934).await, Some(made));
        drop(b.thumbnail_due(2, 20.0));
        b.set_segments(2, &[seg(0, 20.0)]);
        assert_eq!(b.follow_thumbnail(2, 20.0).await, None, "never made");
        assert_eq!(b.follow_thumbnail(2, 19.0).await, None, "another keyframe");
    }

    #[tokio::test(start_paused = true)]
    async fn a_narrower_streams_thumbnail_is_rendered_by_exactly_one_side() {
        let b = Board::new([2, 3]);
        b.set_size(2, (1280, 720));
        b.set_size(3, (640, 360));
        // Both due at the keyframe at 10 s: the leader claims the narrower one's, renders
        // it, places it; the narrower stream takes it.
        let _leader = b.thumbnail_due(2, 10.0);
        b.set_segments(2, &[seg(0, 10.0)]);
        let _narrow = b.thumbnail_due(3, 10.02);
        b.set_segments(3, &[seg(0, 10.02)]);
        let (claims, taken) = tokio::join!(
            async {
                let claims = b.claim_narrow(2, 10.0).await;
                for c in &claims {
                    assert!(c.placing());
                    c.done(true);
                }
                claims
            },
            b.rendered_for(3, 2, 10.02)
        );
        assert_eq!(
            claims
                .iter()
                .map(|c| (c.stream_id, c.start, c.size))
                .collect::<Vec<_>>(),
            [(3, 10.02, (640, 360))]
        );
        assert!(taken);
        drop(claims);

        // The leader has no thumbnail due there: the stream makes its own at once, and a
        // leader coming later finds nothing to claim.
        let _narrow = b.thumbnail_due(3, 20.0);
        b.set_segments(3, &[seg(0, 20.0)]);
        b.set_segments(2, &[seg(0, 20.0)]);
        let waited = tokio::time::Instant::now();
        assert!(!b.rendered_for(3, 2, 20.0).await);
        assert_eq!(waited.elapsed(), Duration::ZERO);
        assert!(b.claim_narrow(2, 20.0).await.is_empty());

        // A claim given up (the leader's run failed, or it stopped): the stream makes its own.
        let _leader = b.thumbnail_due(2, 30.0);
        b.set_segments(2, &[seg(0, 30.0)]);
        let _narrow = b.thumbnail_due(3, 30.0);
        b.set_segments(3, &[seg(0, 30.0)]);
        let claims = b.claim_narrow(2, 30.0).await;
        assert_eq!(claims.len(), 1);
        let (taken, ()) = tokio::join!(b.rendered_for(3, 2, 30.0), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(claims);
        });
        assert!(!taken);

        // The stream's segment comes after the leader stopped waiting for it: the leader's
        // claims are closed, so it makes its own at once instead of waiting.
        let _leader = b.thumbnail_due(2, 35.0);
        b.set_segments(2, &[seg(0, 35.0)]);
        assert!(b.claim_narrow(2, 35.0).await.is_empty());
        let _narrow = b.thumbnail_due(3, 35.0);
        b.set_segments(3, &[seg(0, 35.0)]);
        let waited = tokio::time::Instant::now();
        assert!(!b.rendered_for(3, 2, 35.0).await);
        assert_eq!(
            waited.elapsed(),
            Duration::ZERO,
            "not waited: claims closed"
        );

        // A leader too slow: the stream stops waiting and makes its own; the leader's late
        // files may not land.
        let _leader = b.thumbnail_due(2, 40.0);
        b.set_segments(2, &[seg(0, 40.0)]);
        let _narrow = b.thumbnail_due(3, 40.0);
        b.set_segments(3, &[seg(0, 40.0)]);
        let claims = b.claim_narrow(2, 40.0).await;
        assert!(!b.rendered_for(3, 2, 40.0).await, "gave up");
        assert!(!claims[0].placing(), "too late to place");
    }

    #[tokio::test(start_paused = true)]
    async fn a_follower_stops_waiting_for_a_leader_that_is_behind() {
        let b = Board::new([1, 2]);
        b.set_segments(1, &[seg(0, 0.0)]);
        let waited = tokio::time::Instant::now();
        assert!(b.follow(1, 5.0, 8.0).await.is_none());
        assert_eq!(
            waited.elapsed(),
            FOLLOW_WAIT,
            "behind: waited, then gave up"
        );
        let waited = tokio::time::Instant::now();
        assert!(b.follow(1, 20.0, 23.0).await.is_none());
        assert_eq!(waited.elapsed(), Duration::ZERO, "stale: not waited for");
        assert!(b.follow(9, 5.0, 8.0).await.is_none(), "no such stream");
    }
}
