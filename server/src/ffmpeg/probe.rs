//! ffprobe: duration and picture size of a finished file.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::FfmpegError;

/// What a probe tells about a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProbeInfo {
    pub(crate) duration_s: Option<f64>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) has_video: bool,
    pub(crate) has_audio: bool,
}

/// Probes `file` (at most 30 s).
pub(crate) async fn probe(ffprobe: &Path, file: &Path) -> Result<ProbeInfo, FfmpegError> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(file.into());
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(ffprobe)
            .args(&args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| FfmpegError::Timeout {
        program: "ffprobe",
        seconds: 30,
    })?
    .map_err(|source| FfmpegError::Spawn {
        program: "ffprobe",
        source,
    })?;
    if !output.status.success() {
        return Err(FfmpegError::Failed {
            program: "ffprobe",
            status: super::process::describe(output.status),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    parse(&output.stdout)
}

/// Reads ffprobe's JSON.
pub(crate) fn parse(json: &[u8]) -> Result<ProbeInfo, FfmpegError> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| FfmpegError::Parse(e.to_string()))?;
    let mut info = ProbeInfo {
        duration_s: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok()),
        ..ProbeInfo::default()
    };
    for s in v["streams"].as_array().into_iter().flatten() {
        match s["codec_type"].as_str() {
            Some("video") if !info.has_video => {
                info.has_video = true;
                info.width = s["width"].as_u64().and_then(|w| u32::try_from(w).ok());
                info.height = s["height"].as_u64().and_then(|h| u32::try_from(h).ok());
            }
            Some("audio") => info.has_audio = true,
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_duration_and_size() {
        let json = br#"{"streams":[{"codec_type":"video","width":1280,"height":720},{"codec_type":"audio"}],"format":{"duration":"6.020016"}}"#;
        let p = parse(json).expect("parses");
        assert_eq!(
            p,
            ProbeInfo {
                duration_s: Some(6.020016),
                width: Some(1280),
                height: Some(720),
                has_video: true,
                has_audio: true
            }
        );
        assert!(parse(b"nope").is_err());
    }
}
