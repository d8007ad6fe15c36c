//! Pure argv builders: validated settings and store paths in, `Vec<OsString>` out. No shell,
//! no user text: every value comes from a domain type or a [`crate::media_store`] path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One rendition a source ffmpeg writes: where its HLS segments go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HlsOutput {
    /// Folder of this run's segments and its live playlist (created beforehand).
    pub(crate) dir: PathBuf,
    /// `Some` to encode (transcoding profile), `None` to copy (ingest).
    pub(crate) encode: Option<Encode>,
}

/// How a transcoding profile is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encode {
    /// Target height; never above the source's.
    pub(crate) height: u32,
    pub(crate) video_kbps: u32,
    /// x264 preset (e.g. `superfast`).
    pub(crate) preset: String,
}

/// Name of the live playlist inside an output folder.
pub(crate) const LIVE_PLAYLIST: &str = "live.m3u8";
/// Name of the init segment inside an output folder.
pub(crate) const INIT_SEGMENT: &str = "init.mp4";
/// Target segment length in seconds (segments are cut at keyframes, so one GOP at least).
pub(crate) const SEGMENT_SECONDS: u32 = 1;

fn os(parts: &[&str]) -> Vec<OsString> {
    parts.iter().map(OsString::from).collect()
}

fn common_input(format: &str) -> Vec<OsString> {
    // Small probe: the container header and sequence headers arrive first, so there is no
    // need to buffer seconds of media before the first segment. Timestamps are kept as
    // published (-copyts) so a restarted run continues the same timeline.
    os(&[
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "warning",
        "-fflags",
        "+genpts",
        "-probesize",
        "262144",
        "-analyzeduration",
        "1000000",
        "-f",
        format,
        "-i",
        "pipe:0",
        "-copyts",
    ])
}

fn hls(out: &Path) -> Vec<OsString> {
    let mut v = os(&[
        "-f",
        "hls",
        "-hls_time",
        &SEGMENT_SECONDS.to_string(),
        "-hls_list_size",
        "6",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        INIT_SEGMENT,
        "-hls_flags",
        "+independent_segments+temp_file",
        "-hls_segment_filename",
    ]);
    v.push(out.join("seg_%06d.m4s").into_os_string());
    v.push(out.join(LIVE_PLAYLIST).into_os_string());
    v
}

/// One ffmpeg reading `format` (FLV, or Matroska for HEVC, AV1 and VP9) on stdin and writing
/// every output as HLS fMP4 segments. Copy outputs pass the published video and AAC through;
/// encode outputs share one decode and one `split`, each scaled (never up) and encoded with
/// x264, 1 s GOPs aligned for segmenting.
pub(crate) fn source(format: &str, outputs: &[HlsOutput]) -> Vec<OsString> {
    let mut v = common_input(format);
    let encoded: Vec<(usize, &Encode)> = outputs
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.encode.as_ref().map(|e| (i, e)))
        .collect();
    if !encoded.is_empty() {
        let mut graph = format!("[0:v]split={}", encoded.len());
        for (i, _) in &encoded {
            graph.push_str(&format!("[s{i}]"));
        }
        for (i, e) in &encoded {
            graph.push_str(&format!(
                ";[s{i}]scale=w=-2:h='min({},ih)':flags=bicubic,format=yuv420p[o{i}]",
                e.height
            ));
        }
        v.push("-filter_complex".into());
        v.push(graph.into());
    }
    for (i, out) in outputs.iter().enumerate() {
        match &out.encode {
            None => v.extend(os(&["-map", "0:v", "-map", "0:a?", "-c", "copy"])),
            Some(e) => {
                let kbps = e.video_kbps;
                v.extend(os(&[
                    "-map",
                    &format!("[o{i}]"),
                    "-map",
                    "0:a?",
                    "-c:v",
                    "libx264",
                    "-preset",
                    &e.preset,
                    "-tune",
                    "zerolatency",
                    "-b:v",
                    &format!("{kbps}k"),
                    "-maxrate",
                    &format!("{kbps}k"),
                    "-bufsize",
                    &format!("{}k", kbps * 2),
                    "-force_key_frames",
                    &format!("expr:gte(t,n_forced*{SEGMENT_SECONDS})"),
                    "-sc_threshold",
                    "0",
                    "-threads",
                    "2",
                    "-c:a",
                    "copy",
                ]));
            }
        }
        v.extend(hls(&out.dir));
    }
    v
}

/// The input of a job that reads segments already on disk: the init segment and media
/// segments joined by the concat protocol (segments start on keyframes).
fn segments_input(init: &Path, segments: &[PathBuf], skip: &str) -> Vec<OsString> {
    let mut joined = OsString::from("concat:");
    joined.push(init.as_os_str());
    for s in segments {
        joined.push("|");
        joined.push(s.as_os_str());
    }
    let mut v = os(&[
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-threads",
        "1",
        "-skip_frame",
        skip,
        "-i",
    ]);
    v.push(joined);
    v
}

/// Largest thumbnail size (scaled down to fit, never up).
pub(crate) const THUMBNAIL_MAX: (u32, u32) = (1280, 720);

/// A thumbnail from the first keyframe of a segment: decodes that keyframe only, writes a
/// JPEG and a WebP. `-threads 1` so each image is written at once. `smaller`: more thumbnails
/// of the same keyframe at exactly these sizes (the narrower streams of a group), each a
/// JPEG and a WebP, from the same decode.
pub(crate) fn thumbnail(
    init: &Path,
    segment: &Path,
    jpeg: &Path,
    webp: &Path,
    smaller: &[((u32, u32), PathBuf, PathBuf)],
) -> Vec<OsString> {
    let mut v = segments_input(init, std::slice::from_ref(&segment.to_path_buf()), "nokey");
    let (w, h) = THUMBNAIL_MAX;
    let fit = format!("scale=w='min({w},iw)':h='min({h},ih)':force_original_aspect_ratio=decrease:force_divisible_by=2");
    let mut outputs = vec![(fit, jpeg, webp)];
    for ((w, h), jpeg, webp) in smaller {
        outputs.push((format!("scale={}:{}", w & !1, h & !1), jpeg, webp));
    }
    for (scale, jpeg, webp) in outputs {
        one_picture(&mut v, &scale, &["-q:v", "4", "-f", "image2"], jpeg);
        let webp_codec = [
            "-c:v",
            "libwebp",
            "-quality",
            "75",
            "-compression_level",
            "2",
            "-f",
            "webp",
        ];
        one_picture(&mut v, &scale, &webp_codec, webp);
    }
    v
}

/// One output of the input's first decoded video frame through `filter`, encoded as `codec`
/// says, into `path`.
fn one_picture(v: &mut Vec<OsString>, filter: &str, codec: &[&str], path: &Path) {
    v.extend(os(&["-map", "0:v:0", "-frames:v", "1", "-vf", filter]));
    v.extend(os(codec));
    v.push(path.into());
}

/// A storyboard tile (a JPEG of the storyboard's tile size, letterboxed) of a segment's first keyframe, for streams
/// whose thumbnails are off: only that frame is decoded.
pub(crate) fn storyboard_tile(init: &Path, segment: &Path, jpeg: &Path) -> Vec<OsString> {
    let mut v = segments_input(init, std::slice::from_ref(&segment.to_path_buf()), "nokey");
    let fit = crate::storyboard::fit_tile();
    one_picture(&mut v, &fit, &["-q:v", "5", "-f", "image2"], jpeg);
    v
}

/// Widest motion clip.
pub(crate) const CLIP_MAX_WIDTH: u32 = 480;

/// A motion clip of `duration_s` from segments on disk: decodes only those seconds
/// (skipping frames nothing references, as the output is 10–15 fps), scales to ≤ 480 px,
/// and writes a muted MP4 (15 fps) and an animated WebP (10 fps) from one decode, every
/// codec on one thread.
pub(crate) fn motion_clip(
    init: &Path,
    segments: &[PathBuf],
    offset_s: f64,
    duration_s: u32,
    mp4: &Path,
    webp: &Path,
) -> Vec<OsString> {
    let mut v = segments_input(init, segments, "noref");
    let graph = format!(
        "[0:v]trim=start={offset_s:.3}:duration={duration_s},setpts=PTS-STARTPTS,scale=w='min({CLIP_MAX_WIDTH},iw)':h=-2:flags=fast_bilinear,split=2[m][w];[m]fps=15[mo];[w]fps=10[wo]"
    );
    v.extend(os(&["-filter_complex", &graph, "-an"]));
    v.extend(os(&[
        "-map",
        "[mo]",
        "-c:v",
        "libx264",
        // One thread: many clips run side by side, and x264's frame threads cost more CPU
        // than they save on 45 small frames (`make bench-clip`).
        "-threads",
        "1",
        "-preset",
        "veryfast",
        "-crf",
        "28",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    v.push(mp4.into());
    v.extend(os(&[
        "-map",
        "[wo]",
        "-c:v",
        "libwebp_anim",
        "-loop",
        "0",
        "-quality",
        "55",
        "-compression_level",
        "0",
        "-f",
        "webp",
    ]));
    v.push(webp.into());
    v
}

/// A plain MP4 with its index first (`+faststart`) from a fragmented one, by stream copy:
/// nothing is decoded or encoded.
pub(crate) fn remux_faststart(input: &Path, output: &Path) -> Vec<OsString> {
    let mut v = os(&[
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-i",
    ]);
    v.push(input.into());
    v.extend(os(&[
        "-map",
        "0",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    v.push(output.into());
    v
}

/// A test publisher: a lavfi pattern with a running UTC clock (when a font is available) and
/// a tone, encoded H.264/AAC with 1 s GOPs and published over RTMP, as OBS would.
pub(crate) fn test_publisher(url: &str, font: Option<&Path>) -> Vec<OsString> {
    let mut video = "testsrc2=size=1280x720:rate=30".to_string();
    if let Some(font) = font
        .and_then(Path::to_str)
        .filter(|f| !f.contains(['\'', ':', ',']))
    {
        video.push_str(&format!(
            ",drawtext=fontfile={font}:text='Live Processing demo  %{{gmtime\\:%Y-%m-%d %H\\\\\\:%M\\\\\\:%S}} UTC':fontsize=40:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=40:y=h-th-60"
        ));
    }
    let mut v = os(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        &video,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:beep_factor=4:sample_rate=48000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-g",
        "30",
        "-b:v",
        "2500k",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "96k",
        "-f",
        "flv",
    ]);
    v.push(url.into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[OsString]) -> Vec<String> {
        v.iter().map(|o| o.to_string_lossy().into_owned()).collect()
    }

    fn after<'a>(v: &'a [String], flag: &str) -> Vec<&'a str> {
        v.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn copy_source_reads_flv_from_stdin_and_writes_fmp4_hls() {
        let v = s(&source(
            "flv",
            &[HlsOutput {
                dir: "/d/st1/segments/r0".into(),
                encode: None,
            }],
        ));
        assert_eq!(after(&v, "-i"), ["pipe:0"]);
        assert_eq!(after(&v, "-f"), ["flv", "hls"]);
        assert_eq!(after(&v, "-c"), ["copy"]);
        assert_eq!(after(&v, "-hls_segment_type"), ["fmp4"]);
        assert!(v.contains(&"-copyts".to_string()));
        assert_eq!(
            v.last().map(String::as_str),
            Some("/d/st1/segments/r0/live.m3u8")
        );
        assert!(
            !v.iter().any(|a| a.contains("libx264")),
            "the ingest is never re-encoded"
        );
    }

    #[test]
    fn transcoding_decodes_once_and_encodes_each_profile() {
        let enc = |h, k| {
            Some(Encode {
                height: h,
                video_kbps: k,
                preset: "superfast".into(),
            })
        };
        let v = s(&source(
            "flv",
            &[
                HlsOutput {
                    dir: "/a".into(),
                    encode: None,
                },
                HlsOutput {
                    dir: "/b".into(),
                    encode: enc(720, 2500),
                },
                HlsOutput {
                    dir: "/c".into(),
                    encode: enc(360, 800),
                },
            ],
        ));
        assert_eq!(after(&v, "-i").len(), 1, "one input, one decode");
        let graph = after(&v, "-filter_complex")[0];
        assert!(graph.starts_with("[0:v]split=2[s1][s2]"), "{graph}");
        assert!(
            graph.contains("h='min(720,ih)'") && graph.contains("h='min(360,ih)'"),
            "never upscale: {graph}"
        );
        assert_eq!(after(&v, "-c:v"), ["libx264", "libx264"]);
        assert_eq!(after(&v, "-b:v"), ["2500k", "800k"]);
        assert_eq!(after(&v, "-preset"), ["superfast", "superfast"]);
        assert_eq!(
            after(&v, "-map"),
            ["0:v", "0:a?", "[o1]", "0:a?", "[o2]", "0:a?"]
        );
    }

    #[test]
    fn thumbnails_decode_keyframes_only_with_one_thread() {
        let v = s(&thumbnail(
            Path::new("/r/init.mp4"),
            Path::new("/r/seg_000004.m4s"),
            Path::new("/t/1.jpg.part"),
            Path::new("/t/1.webp.part"),
            &[],
        ));
        assert_eq!(after(&v, "-skip_frame"), ["nokey"]);
        assert_eq!(after(&v, "-threads"), ["1"]);
        assert_eq!(after(&v, "-i"), ["concat:/r/init.mp4|/r/seg_000004.m4s"]);
        assert_eq!(after(&v, "-frames:v"), ["1", "1"]);
        assert!(v.contains(&"-nostdin".to_string()));
        // A group's narrower stream: its size too, from the same decode (one input).
        let v = s(&thumbnail(
            Path::new("/r/init.mp4"),
            Path::new("/r/seg_000004.m4s"),
            Path::new("/t/1.jpg.part"),
            Path::new("/t/1.webp.part"),
            &[(
                (427, 240),
                PathBuf::from("/u/1.jpg.lead.part"),
                PathBuf::from("/u/1.webp.lead.part"),
            )],
        ));
        assert_eq!(after(&v, "-i").len(), 1);
        assert_eq!(after(&v, "-vf")[2..], ["scale=426:240", "scale=426:240"]);
        assert_eq!(
            v.iter()
                .filter(|a| a.ends_with(".part"))
                .collect::<Vec<_>>(),
            [
                "/t/1.jpg.part",
                "/t/1.webp.part",
                "/u/1.jpg.lead.part",
                "/u/1.webp.lead.part"
            ]
        );
    }

    #[test]
    fn the_test_publisher_draws_a_clock_when_it_has_a_font() {
        let v = s(&test_publisher(
            "rtmp://h/live/k",
            Some(Path::new("/f/Sans.ttf")),
        ));
        let input = after(&v, "-i")[0];
        assert!(
            input.starts_with("testsrc2=") && input.contains("drawtext=fontfile=/f/Sans.ttf"),
            "{input}"
        );
        assert_eq!(v.last().map(String::as_str), Some("rtmp://h/live/k"));
        let plain = s(&test_publisher("rtmp://h/live/k", None));
        assert!(!after(&plain, "-i")[0].contains("drawtext"));
    }

    #[test]
    fn clip_downloads_are_stream_copies() {
        let v = s(&remux_faststart(
            Path::new("/c/f.mp4"),
            Path::new("/c/clip.mp4.part"),
        ));
        assert_eq!(after(&v, "-c"), ["copy"]);
        assert_eq!(after(&v, "-movflags"), ["+faststart"]);
        assert!(!v.iter().any(|a| a.contains("264")), "never re-encoded");
        assert_eq!(v.last().map(String::as_str), Some("/c/clip.mp4.part"));
    }

    #[test]
    fn motion_clips_are_small_muted_and_cut_to_duration() {
        let segs = vec![PathBuf::from("/r/a.m4s"), PathBuf::from("/r/b.m4s")];
        let v = s(&motion_clip(
            Path::new("/r/init.mp4"),
            &segs,
            0.5,
            3,
            Path::new("/c/x.mp4"),
            Path::new("/c/x.webp"),
        ));
        let graph = after(&v, "-filter_complex")[0];
        assert!(graph.contains("trim=start=0.500:duration=3"), "{graph}");
        assert!(graph.contains("min(480,iw)"), "{graph}");
        assert!(v.contains(&"-an".to_string()));
        assert_eq!(after(&v, "-c:v"), ["libx264", "libwebp_anim"]);
        assert_eq!(after(&v, "-skip_frame"), ["noref"]);
        assert_eq!(
            after(&v, "-threads"),
            ["1", "1"],
            "decoder and x264 on one thread"
        );
    }
}
