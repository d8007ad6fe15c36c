//! The SRT ingest's MPEG-TS demuxer from raw bytes, split at a point the input chooses (SRT
//! delivers any split): it must never panic, never hold more than its bounds, and only hand
//! on tags whose bodies the pipeline's FLV checks can read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_ingest::mpegts::{Demuxed, Demuxer};

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let mut demuxer = Demuxer::new();
    let mut out = Vec::new();
    for chunk in bytes.chunks(usize::from(split).max(1) * 7) {
        demuxer.push(chunk, &mut out);
    }
    demuxer.finish(&mut out);
    for item in out {
        if let Demuxed::Media(m) = item {
            assert!(m.payload.len() >= 2);
            let _ = rtmp_ingest::flv::unsupported_video(&m.payload);
            let _ = rtmp_ingest::flv::unsupported_audio(&m.payload);
        }
    }
});
