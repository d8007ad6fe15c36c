//! The settings editor's state, without any view: one draft per stream with the text the
//! person typed, "Sync settings across profiles", dirty tracking, and validation through the
//! domain rules. Tested natively; the view only binds inputs to it.

use crate::domain::settings::{
    ProcessChange, ProcessConfig, ProcessInput, ProcessKind, Span, SpanInput, StreamProcessing,
};
use crate::domain::streams::{StreamInfo, StreamRole};
use crate::domain::FieldError;

/// What one process's inputs hold, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessDraft {
    pub enabled: bool,
    pub interval: String,
    pub duration: String,
    pub entire_stream: bool,
}

impl ProcessDraft {
    /// A draft showing saved settings.
    pub fn from_config(config: &ProcessConfig) -> Self {
        let (duration, entire_stream) = match config.duration() {
            Some(Span::Seconds(s)) => (s.to_string(), false),
            Some(Span::EntireStream) => (String::new(), true),
            None => (String::new(), false),
        };
        Self {
            enabled: config.enabled(),
            interval: config.interval().map(|i| i.to_string()).unwrap_or_default(),
            duration,
            entire_stream,
        }
    }

    /// Parses the typed text and checks it with the domain rules of `kind`.
    pub fn to_input(&self, kind: ProcessKind) -> Result<ProcessInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let interval = kind.interval_rule().and_then(|rule| {
            rule.parse(&self.interval)
                .map(i64::from)
                .map_err(|e| errors.push(e))
                .ok()
        });
        let duration = kind.duration_rule().and_then(|rule| {
            if self.entire_stream && rule.allows_entire_stream {
                Some(SpanInput::EntireStream)
            } else {
                rule.parse(&self.duration)
                    .map(|s| SpanInput::Seconds(i64::from(s)))
                    .map_err(|e| errors.push(e))
                    .ok()
            }
        });
        if errors.is_empty() {
            Ok(ProcessInput {
                enabled: self.enabled,
                interval,
                duration,
            })
        } else {
            Err(errors)
        }
    }
}

/// One stream's row in the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDraft {
    /// 0 for a stream that does not exist yet (creation form).
    pub stream_id: i64,
    pub name: String,
    pub quality: String,
    pub role: StreamRole,
    /// In [`ProcessKind::ALL`] order.
    pub processes: [ProcessDraft; 4],
    /// The versions the settings were loaded at (0 for new streams).
    pub versions: [i64; 4],
}

fn index(kind: ProcessKind) -> usize {
    ProcessKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(0)
}

impl StreamDraft {
    /// A new stream with the default settings.
    pub fn new(name: String, quality: String, role: StreamRole) -> Self {
        Self {
            stream_id: 0,
            name,
            quality,
            role,
            processes: ProcessKind::ALL
                .map(|k| ProcessDraft::from_config(&ProcessConfig::default_for(k))),
            versions: [0; 4],
        }
    }

    /// The draft of one process.
    pub fn process(&self, kind: ProcessKind) -> &ProcessDraft {
        &self.processes[index(kind)]
    }

    /// The draft of one process, to edit.
    pub fn process_mut(&mut self, kind: ProcessKind) -> &mut ProcessDraft {
        &mut self.processes[index(kind)]
    }
}

/// The whole editor: every stream of a group, and the values it was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorModel {
    pub streams: Vec<StreamDraft>,
    original: Vec<StreamDraft>,
}

impl EditorModel {
    /// An editor over drafts (the creation form starts from defaults).
    pub fn new(streams: Vec<StreamDraft>) -> Self {
        Self {
            original: streams.clone(),
            streams,
        }
    }

    /// An editor over saved settings of a group's streams.
    pub fn from_saved(streams: &[StreamInfo], settings: &[StreamProcessing]) -> Self {
        let drafts = streams
            .iter()
            .map(|s| {
                let mut d = StreamDraft::new(s.name.clone(), s.quality.clone(), s.role);
                d.stream_id = s.id;
                if let Some(saved) = settings.iter().find(|p| p.stream_id == s.id) {
                    for kind in ProcessKind::ALL {
                        if let Some(v) = saved.get(kind) {
                            *d.process_mut(kind) = ProcessDraft::from_config(&v.config);
                            d.versions[index(kind)] = v.version;
                        }
                    }
                }
                d
            })
            .collect();
        Self::new(drafts)
    }

    /// Changes the list of streams (the creation form, when profiles are picked), keeping the
    /// drafts of streams that stay (matched by quality) and starting new ones from defaults.
    pub fn reshape(&mut self, streams: Vec<(String, String, StreamRole)>) {
        let mut next = Vec::with_capacity(streams.len());
        for (name, quality, role) in streams {
            let mut draft = self
                .streams
                .iter()
                .find(|d| d.quality == quality)
                .cloned()
                .unwrap_or_else(|| StreamDraft::new(name.clone(), quality.clone(), role));
            draft.name = name;
            draft.role = role;
            next.push(draft);
        }
        self.streams = next;
    }

    /// "Sync settings across profiles": copies the settings of `kinds` from stream `from` to
    /// every transcoding profile of the group (the ingest is left alone unless it is the
    /// source). Returns how many streams changed.
    pub fn sync_from(&mut self, from: usize, kinds: &[ProcessKind]) -> usize {
        let Some(source) = self.streams.get(from).cloned() else {
            return 0;
        };
        let mut changed = 0;
        for (i, target) in self.streams.iter_mut().enumerate() {
            if i == from || target.role != StreamRole::Profile {
                continue;
            }
            let before = target.processes.clone();
            for &kind in kinds {
                *target.process_mut(kind) = source.process(kind).clone();
            }
            if target.processes != before {
                changed += 1;
            }
        }
        changed
    }

    /// Whether anything differs from what the editor was opened with.
    pub fn is_dirty(&self) -> bool {
        self.streams != self.original
    }

    /// Every invalid field of the given processes, tagged with its stream's position.
    pub fn errors(&self, kinds: &[ProcessKind]) -> Vec<(usize, FieldError)> {
        let mut out = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            for &kind in kinds {
                if let Err(errors) = s.process(kind).to_input(kind) {
                    out.extend(errors.into_iter().map(|e| (i, e)));
                }
            }
        }
        out
    }

    /// The error for one field of one stream, if any (`field` like `thumbnail.interval`).
    pub fn error_for(&self, stream: usize, kind: ProcessKind, field: &str) -> Option<FieldError> {
        let draft = self.streams.get(stream)?;
        draft
            .process(kind)
            .to_input(kind)
            .err()?
            .into_iter()
            .find(|e| e.field == field)
    }

    /// The changes to send for `kinds`: only processes that differ from when the editor was
    /// opened, each with the version it was loaded at.
    pub fn changes(&self, kinds: &[ProcessKind]) -> Result<Vec<ProcessChange>, Vec<FieldError>> {
        let mut changes = Vec::new();
        let mut errors = Vec::new();
        for (draft, original) in self.streams.iter().zip(&self.original) {
            for &kind in kinds {
                if draft.process(kind) == original.process(kind) {
                    continue;
                }
                match draft.process(kind).to_input(kind) {
                    Ok(input) => changes.push(ProcessChange {
                        stream_id: draft.stream_id,
                        kind,
                        version: draft.versions[index(kind)],
                        input,
                    }),
                    Err(e) => errors.extend(e.into_iter().map(|e| e.for_stream(draft.stream_id))),
                }
            }
        }
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    /// Every stream's full settings in [`ProcessKind::ALL`] order (the creation form sends these).
    pub fn inputs(&self) -> Result<Vec<[ProcessInput; 4]>, Vec<FieldError>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, s) in self.streams.iter().enumerate() {
            let mut inputs = Vec::with_capacity(4);
            for kind in ProcessKind::ALL {
                match s.process(kind).to_input(kind) {
                    Ok(input) => inputs.push(input),
                    Err(e) => errors.extend(e.into_iter().map(|e| FieldError {
                        field: format!("streams[{i}].{}", e.field),
                        ..e
                    })),
                }
            }
            if let Ok(array) = <[ProcessInput; 4]>::try_from(inputs) {
                out.push(array);
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::VersionedConfig;

    fn group() -> EditorModel {
        EditorModel::new(vec![
            StreamDraft::new("Show".into(), "Source".into(), StreamRole::Ingest),
            StreamDraft::new("Show 720p".into(), "720p".into(), StreamRole::Profile),
            StreamDraft::new("Show 360p".into(), "360p".into(), StreamRole::Profile),
        ])
    }

    #[test]
    fn sync_copies_the_section_to_every_profile_only() {
        let mut m = group();
        {
            let t = m.streams[0].process_mut(ProcessKind::Thumbnail);
            t.enabled = true;
            t.interval = "20".into();
        }
        m.streams[0].process_mut(ProcessKind::Recording).enabled = true;
        assert_eq!(
            m.sync_from(0, &[ProcessKind::Thumbnail, ProcessKind::MotionClip]),
            2
        );
        for s in &m.streams[1..] {
            assert!(s.process(ProcessKind::Thumbnail).enabled);
            assert_eq!(s.process(ProcessKind::Thumbnail).interval, "20");
            assert!(
                !s.process(ProcessKind::Recording).enabled,
                "other sections are untouched"
            );
        }
        // Syncing from a profile leaves the ingest alone.
        m.streams[1].process_mut(ProcessKind::Thumbnail).interval = "30".into();
        assert_eq!(m.sync_from(1, &[ProcessKind::Thumbnail]), 1);
        assert_eq!(m.streams[0].process(ProcessKind::Thumbnail).interval, "20");
        assert_eq!(m.streams[2].process(ProcessKind::Thumbnail).interval, "30");
    }

    #[test]
    fn reshape_keeps_drafts_of_streams_that_stay() {
        let mut m = group();
        m.streams[1].process_mut(ProcessKind::Replay).enabled = true;
        m.reshape(vec![
            ("New".into(), "Source".into(), StreamRole::Ingest),
            ("New 1080p".into(), "1080p".into(), StreamRole::Profile),
            ("New 720p".into(), "720p".into(), StreamRole::Profile),
        ]);
        let q: Vec<_> = m.streams.iter().map(|s| s.quality.as_str()).collect();
        assert_eq!(q, ["Source", "1080p", "720p"]);
        assert!(
            m.streams[2].process(ProcessKind::Replay).enabled,
            "720p kept its draft"
        );
        assert!(
            !m.streams[1].process(ProcessKind::Replay).enabled,
            "1080p starts from defaults"
        );
        assert_eq!(m.streams[2].name, "New 720p");
    }

    #[test]
    fn dirty_tracks_any_difference() {
        let mut m = group();
        assert!(!m.is_dirty());
        m.streams[1].process_mut(ProcessKind::Replay).duration = "60".into();
        assert!(m.is_dirty());
        m.streams[1].process_mut(ProcessKind::Replay).duration = "600".into();
        assert!(!m.is_dirty(), "back to the original value");
    }

    #[test]
    fn validation_messages_name_field_value_and_range() {
        let mut m = group();
        m.streams[2].process_mut(ProcessKind::Thumbnail).interval = "9".into();
        m.streams[0].process_mut(ProcessKind::MotionClip).duration = "abc".into();
        let errors = m.errors(&[ProcessKind::Thumbnail, ProcessKind::MotionClip]);
        assert_eq!(errors.len(), 2);
        let e = m
            .error_for(2, ProcessKind::Thumbnail, "thumbnail.interval")
            .expect("error");
        assert_eq!(e.to_string(), "Thumbnail interval must be 10–3600 s; got 9");
        let e = m
            .error_for(0, ProcessKind::MotionClip, "motion_clip.duration")
            .expect("error");
        assert_eq!(e.value, "abc");
        assert_eq!(e.allowed, "1–60 s");
        assert!(m
            .error_for(1, ProcessKind::Thumbnail, "thumbnail.interval")
            .is_none());
    }

    #[test]
    fn entire_stream_ignores_the_number() {
        let mut m = group();
        let r = m.streams[0].process_mut(ProcessKind::Recording);
        r.entire_stream = true;
        r.duration = "garbage".into();
        assert!(m.errors(&[ProcessKind::Recording]).is_empty());
    }

    #[test]
    fn changes_carry_versions_and_only_what_changed() {
        let streams = vec![
            StreamInfo {
                id: 5,
                role: StreamRole::Ingest,
                name: "S".into(),
                quality: "Source".into(),
                width: None,
                height: None,
                video_kbps: None,
            },
            StreamInfo {
                id: 6,
                role: StreamRole::Profile,
                name: "S 720p".into(),
                quality: "720p".into(),
                width: Some(1280),
                height: Some(720),
                video_kbps: Some(2500),
            },
        ];
        let settings: Vec<StreamProcessing> = [5, 6]
            .map(|id| StreamProcessing {
                stream_id: id,
                processes: ProcessKind::ALL
                    .map(|k| VersionedConfig {
                        config: ProcessConfig::default_for(k),
                        version: 3,
                    })
                    .to_vec(),
            })
            .to_vec();
        let mut m = EditorModel::from_saved(&streams, &settings);
        assert_eq!(m.changes(&ProcessKind::ALL), Ok(vec![]));
        m.streams[1].process_mut(ProcessKind::Thumbnail).enabled = true;
        let changes = m.changes(&[ProcessKind::Thumbnail]).expect("valid");
        assert_eq!(changes.len(), 1);
        assert_eq!((changes[0].stream_id, changes[0].version), (6, 3));
        m.streams[0].process_mut(ProcessKind::Thumbnail).interval = "3601".into();
        let errors = m
            .changes(&[ProcessKind::Thumbnail])
            .expect_err("out of range");
        assert_eq!(errors[0].stream_id, Some(5));
    }
}
