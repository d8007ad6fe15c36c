//! HEVC and AV1 are processed like H.264: a real libx265 publisher over SRT (MPEG-TS), and a
//! real libx265 and a real SVT-AV1 stream sent as OBS 30 sends them over Enhanced RTMP
//! (`hvc1` and `av01` tags from a raw client). ffmpeg 5.1 reads neither from FLV, so these
//! sources reach it in Matroska; every process makes its files, the copies keep the
//! publisher's codec, and a transcoding profile makes H.264 from HEVC (for browsers without
//! HEVC). Refusals of what cannot be processed are
//! in `srt.rs` and `hostile_ingest.rs`.

mod common;

use app::domain::settings::{ProcessKind, SpanInput};
use common::{publish_flv, sample_av1_tags, sample_hevc_tags, Processes, TestApp, TestPublisher};

/// The codec of a file's first video stream, by ffprobe.
fn video_codec(path: &std::path::Path) -> String {
    codec(path, "v:0")
}

/// The codec of a file's stream `which` (`v:0`, `a:0`), by ffprobe; empty if none.
fn codec(path: &std::path::Path, which: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", which])
        .args(["-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_over_srt_and_hevc_and_av1_over_enhanced_rtmp_are_processed() {
    let app = TestApp::start_with(|c| c.srt_listen = Some(([127, 0, 0, 1], 0).into())).await;
    let over_srt = app.group(&[], &Processes::everything()).await;
    let over_rtmp = app.group(&[], &Processes::everything()).await;
    let av1 = app.group(&[], &Processes::everything()).await;
    let transcoded = app
        .group(
            &["360p"],
            &Processes {
                recording: Some(SpanInput::Seconds(3600)),
                ..Processes::none()
            },
        )
        .await;
    let tags = sample_hevc_tags(app.dir.path(), 16);
    let av1_tags = sample_av1_tags(app.dir.path(), 16);
    let srt = app.running.srt_url().expect("srt is on");
    let publisher = TestPublisher::start_hevc_srt(
        &format!("{srt}?streamid={}&latency=200000", over_srt.key),
        16,
        "640x360",
    );
    let rtmp = app.running.rtmp_addr;
    let (srt_done, rtmp_sent, transcoded_sent, av1_sent) = tokio::join!(
        publisher.finish(),
        publish_flv(rtmp, &over_rtmp.key, &tags, true),
        publish_flv(rtmp, &transcoded.key, &tags, true),
        publish_flv(rtmp, &av1.key, &av1_tags, true),
    );
    assert!(srt_done, "ffmpeg published HEVC over SRT to the end");
    rtmp_sent.expect("Enhanced RTMP HEVC accepted to the end");
    transcoded_sent.expect("Enhanced RTMP HEVC accepted to the end");
    av1_sent.expect("Enhanced RTMP AV1 accepted to the end");
    for g in [&over_srt, &over_rtmp, &transcoded, &av1] {
        app.session_over(g.id).await;
        assert_eq!(
            app.sessions(g.owner.organisation_id, g.id).await.len(),
            1,
            "one session, never refused"
        );
    }

    app.every_asset(over_srt.streams[0], 16.0, "HEVC over SRT")
        .await;
    app.every_asset(over_rtmp.streams[0], 16.0, "HEVC over Enhanced RTMP")
        .await;
    app.every_asset(av1.streams[0], 16.0, "AV1 over Enhanced RTMP")
        .await;
    // Copies keep the publisher's codec; images and clips are decoded from it.
    for (g, codec) in [(&over_srt, "hevc"), (&over_rtmp, "hevc"), (&av1, "av1")] {
        let recording = &app
            .asset_files(g.streams[0], ProcessKind::Recording, "mp4")
            .await[0];
        assert_eq!(video_codec(recording), codec);
        // The publisher's AAC is kept (Matroska cannot add a track later: its config, which
        // comes after the first keyframe, is waited for).
        if codec == "hevc" {
            assert_eq!(
                self::codec(recording, "a:0"),
                "aac",
                "{}",
                recording.display()
            );
        }
        let clip = &app
            .asset_files(g.streams[0], ProcessKind::MotionClip, "mp4")
            .await[0];
        assert_eq!(video_codec(clip), "h264");
    }
    // A transcoding profile turns HEVC into H.264 a browser without HEVC plays.
    let source = &app
        .asset_files(transcoded.streams[0], ProcessKind::Recording, "mp4")
        .await[0];
    let profile = &app
        .asset_files(transcoded.streams[1], ProcessKind::Recording, "mp4")
        .await[0];
    assert_eq!(
        (video_codec(source), video_codec(profile)),
        ("hevc".into(), "h264".into())
    );
    let seconds = common::probe_duration(profile);
    assert!((seconds - 16.0).abs() < 2.0, "profile recorded {seconds} s");
    app.running.stop().await.expect("stops");
}
