//! When thumbnails and motion clips are due, in media time (seconds since the session's
//! first frame). The interval and duration are read at every segment, so a settings change
//! applies from the next one on.

/// Media-time bookkeeping of one repeating process.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    last: Option<f64>,
}

impl Schedule {
    /// A thumbnail is due for a segment starting at `start` when none was made yet, or
    /// `interval` seconds have passed since the last.
    pub(crate) fn thumbnail_due(&mut self, start: f64, interval: u32) -> bool {
        let due = self
            .last
            .is_none_or(|last| start + 0.05 >= last + f64::from(interval));
        if due {
            self.last = Some(start);
        }
        due
    }

    /// A motion clip `[end - duration, end]` is due when `duration` seconds of media exist
    /// since `origin` and `interval` seconds passed since the last clip ended. Returns the
    /// window.
    pub(crate) fn clip_due(
        &mut self,
        origin: f64,
        end: f64,
        duration: u32,
        interval: u32,
    ) -> Option<(f64, f64)> {
        let d = f64::from(duration);
        if end - origin + 0.05 < d {
            return None;
        }
        let due = self
            .last
            .is_none_or(|last| end + 0.05 >= last + f64::from(interval));
        if !due {
            return None;
        }
        self.last = Some(end);
        Some((end - d, end))
    }

    /// Forgets the last run (a process turned off and on starts again at once).
    pub(crate) fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_first_at_once_then_every_interval_with_live_changes() {
        let mut s = Schedule::default();
        let due: Vec<_> = (0..25).map(|t| s.thumbnail_due(f64::from(t), 10)).collect();
        let at: Vec<_> = due
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(t, _)| t)
            .collect();
        assert_eq!(at, [0, 10, 20]);
        // The interval shrinks: the next one is due 5 s after the last (20), not at 30.
        assert!(!s.thumbnail_due(24.0, 5));
        assert!(s.thumbnail_due(25.0, 5));
    }

    #[test]
    fn clips_wait_for_enough_media_then_repeat() {
        let mut s = Schedule::default();
        let windows: Vec<_> = (1..=25)
            .filter_map(|end| s.clip_due(0.0, f64::from(end), 3, 10))
            .collect();
        assert_eq!(windows, [(0.0, 3.0), (10.0, 13.0), (20.0, 23.0)]);
    }
}
