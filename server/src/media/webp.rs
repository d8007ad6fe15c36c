//! Reads the size, frame count and duration of a (possibly animated) WebP from its RIFF
//! chunks; ffprobe 5.1 cannot decode animated WebP.

/// What a WebP file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WebpInfo {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) frames: u32,
    /// Sum of the frame durations (0 for a still image).
    pub(crate) duration_ms: u64,
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) | (u32::from(b[1]) << 8) | (u32::from(b[2]) << 16)
}

/// Parses the chunk list; `None` if this is not a WebP file.
pub(crate) fn info(data: &[u8]) -> Option<WebpInfo> {
    if data.len() < 12 || &data[0..4] != b"RIFF" || &data[8..12] != b"WEBP" {
        return None;
    }
    let mut at = 12;
    let mut out = WebpInfo {
        width: 0,
        height: 0,
        frames: 0,
        duration_ms: 0,
    };
    while at + 8 <= data.len() {
        let kind = &data[at..at + 4];
        let len =
            u32::from_le_bytes([data[at + 4], data[at + 5], data[at + 6], data[at + 7]]) as usize;
        let body = data.get(at + 8..at + 8 + len)?;
        match kind {
            b"VP8X" if len >= 10 => {
                out.width = u24(&body[4..7]) + 1;
                out.height = u24(&body[7..10]) + 1;
            }
            b"ANMF" if len >= 16 => {
                out.frames += 1;
                out.duration_ms += u64::from(u24(&body[12..15]));
            }
            b"VP8 " if len >= 10 && out.width == 0 => {
                out.frames = 1;
                out.width = u32::from(u16::from_le_bytes([body[6], body[7]]) & 0x3FFF);
                out.height = u32::from(u16::from_le_bytes([body[8], body[9]]) & 0x3FFF);
            }
            b"VP8L" if len >= 5 && out.width == 0 => {
                let bits = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
                out.frames = 1;
                out.width = (bits & 0x3FFF) + 1;
                out.height = ((bits >> 14) & 0x3FFF) + 1;
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    (out.width > 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = kind.to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        if body.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    #[test]
    fn animated_webp_frames_and_duration() {
        let mut vp8x = vec![0x02, 0, 0, 0];
        vp8x.extend_from_slice(&[0xDF, 0x01, 0x00]); // 480 - 1
        vp8x.extend_from_slice(&[0x0D, 0x01, 0x00]); // 270 - 1
        let mut anmf = vec![0u8; 12];
        anmf.extend_from_slice(&[100, 0, 0, 0]); // 100 ms + flags
        let chunks = [
            chunk(b"VP8X", &vp8x),
            chunk(b"ANIM", &[0; 6]),
            chunk(b"ANMF", &anmf),
            chunk(b"ANMF", &anmf),
            chunk(b"ANMF", &anmf),
        ]
        .concat();
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
        file.extend_from_slice(b"WEBP");
        file.extend_from_slice(&chunks);
        assert_eq!(
            info(&file),
            Some(WebpInfo {
                width: 480,
                height: 270,
                frames: 3,
                duration_ms: 300
            })
        );
        assert_eq!(info(b"RIFF0000WAVE"), None);
    }
}
