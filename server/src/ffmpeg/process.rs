//! The one wrapper that owns every ffmpeg child: its own process group (a Ctrl-C in the
//! terminal reaches the server, which then stops children in order), stdin kept for feeding
//! media or for a graceful end, stderr drained into a bounded tail (a full pipe would stall
//! ffmpeg; the tail becomes the job's error), kill on drop, and a stop that asks nicely
//! first (EOF on stdin, then SIGINT), then kills.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::task::JoinHandle;

use super::FfmpegError;

/// Lines of stderr kept per child.
const TAIL_LINES: usize = 12;

/// A running ffmpeg (or ffprobe).
pub(crate) struct Child {
    child: tokio::process::Child,
    program: &'static str,
    stdin: Option<ChildStdin>,
    tail: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Drop for Child {
    fn drop(&mut self) {
        // kill_on_drop ends the process itself; it no longer counts as running.
        crate::metrics::FFMPEG_CHILDREN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The address space (bytes) every ffmpeg child may use; 0 for no limit. Set once at
/// start-up ([`limit_memory`]).
static MEMORY_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Limits the address space of every ffmpeg started from now on (0: no limit): ffmpeg decodes
/// what publishers send (H.264, HEVC, AV1), and a stream crafted to make a decoder allocate
/// without bound must fail that one job, not take the machine's memory. Applied with
/// util-linux's `prlimit` (this crate has no `unsafe` for a `pre_exec` setrlimit).
pub fn limit_memory(bytes: u64) {
    MEMORY_LIMIT.store(bytes, Ordering::Relaxed);
}

impl Child {
    /// Starts `binary` with `args` in a new process group, within the memory limit. With `with_stdin`, stdin is a pipe
    /// (take it with [`Child::take_stdin`]); otherwise it is closed. A `nice` above 0 runs it
    /// at lower CPU priority (background work must not delay live segmenting).
    pub(crate) fn spawn(
        program: &'static str,
        binary: &Path,
        args: &[OsString],
        with_stdin: bool,
        nice: u8,
    ) -> Result<Self, FfmpegError> {
        // prlimit and nice each exec the next program, so ffmpeg keeps their pid, limit and
        // niceness.
        let mut argv: Vec<OsString> = Vec::new();
        let limit = MEMORY_LIMIT.load(Ordering::Relaxed);
        if limit > 0 {
            argv.extend([
                "prlimit".into(),
                format!("--as={limit}").into(),
                "--".into(),
            ]);
        }
        if nice > 0 {
            argv.extend(["nice".into(), "-n".into(), nice.to_string().into()]);
        }
        argv.push(binary.into());
        let mut cmd = Command::new(&argv[0]);
        if limit > 0 {
            // The limit counts reserved address space: glibc's default of 8 malloc arenas a
            // core (64 MiB each) would reserve gigabytes on a large host.
            cmd.env("MALLOC_ARENA_MAX", "2");
        }
        cmd.args(&argv[1..])
            .args(args)
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|source| FfmpegError::Spawn { program, source })?;
        crate::metrics::FFMPEG_CHILDREN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!(crate::metrics::FFMPEG_SPAWNS, "program" => program).increment(1);
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let drain = child.stderr.take().map(|stderr| {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            })
        });
        let stdin = child.stdin.take();
        Ok(Self {
            child,
            program,
            stdin,
            tail,
            drain,
        })
    }

    /// The pipe to the child's stdin, once.
    pub(crate) fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// The last lines the child wrote to stderr.
    pub(crate) fn stderr_tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Waits for the child to exit (and for its stderr to be read to the end).
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await?;
        if let Some(d) = self.drain.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), d).await;
        }
        Ok(status)
    }

    /// Sends a signal to the child's process group.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(pid), signal);
        }
    }

    /// Ends the child: closes stdin (ffmpeg finishes its files at EOF) and waits `grace`;
    /// then SIGINT and another `grace`; then SIGKILL.
    pub(crate) async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
        if let Ok(Ok(status)) = tokio::time::timeout(grace, self.wait()).await {
            return Some(status);
        }
        self.signal(Signal::SIGINT);
        if let Ok(Ok(status)) = tokio::time::timeout(grace, self.wait()).await {
            return Some(status);
        }
        tracing::warn!(program = self.program, "did not stop in time; killing");
        self.signal(Signal::SIGKILL);
        self.wait().await.ok()
    }

    /// The error for a non-zero exit.
    pub(crate) fn failure(&self, status: ExitStatus) -> FfmpegError {
        FfmpegError::Failed {
            program: self.program,
            status: describe(status),
            stderr: self.stderr_tail(),
        }
    }
}

/// `exit code 1` or `signal 9 (killed)`.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(9)) => "signal 9 (killed)".into(),
        (None, Some(s)) => format!("signal {s}"),
        _ => status.to_string(),
    }
}

/// Runs a short job to completion within `limit` (at niceness `nice`); a timeout kills it.
pub(crate) async fn run(
    program: &'static str,
    binary: &Path,
    args: &[OsString],
    limit: Duration,
    nice: u8,
) -> Result<(), FfmpegError> {
    let mut child = Child::spawn(program, binary, args, false, nice)?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(child.failure(status)),
        Ok(Err(e)) => Err(FfmpegError::Io(e)),
        Err(_) => {
            child.signal(Signal::SIGKILL);
            let _ = child.wait().await;
            Err(FfmpegError::Timeout {
                program,
                seconds: limit.as_secs(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(parts: &[&str]) -> Vec<OsString> {
        parts.iter().map(OsString::from).collect()
    }

    #[tokio::test]
    async fn failures_carry_the_stderr_tail() {
        let args = argv(&[
            "-hide_banner",
            "-i",
            "/nonexistent/input.mp4",
            "-f",
            "null",
            "-",
        ]);
        let err = run(
            "ffmpeg",
            Path::new("ffmpeg"),
            &args,
            Duration::from_secs(20),
            0,
        )
        .await
        .expect_err("no such input");
        let text = err.to_string();
        assert!(
            text.contains("exit code") && text.contains("No such file"),
            "{text}"
        );
    }

    /// The limit reaches ffmpeg itself (its `/proc` limits), and a job that needs more memory
    /// than it allows fails as a job error instead of growing. 640 MiB: ffmpeg and its
    /// libraries load (about 240 MiB of them), but two 16000x9000 frames (about 680 MiB
    /// resident without the limit) do not fit. (Far lower limits can hang ffmpeg when a
    /// thread cannot start: jobs have timeouts for that.)
    #[tokio::test]
    async fn children_run_within_the_memory_limit() {
        const LIMIT: u64 = 640 << 20;
        limit_memory(LIMIT);
        let args = argv(&[
            "-hide_banner",
            "-f",
            "flv",
            "-i",
            "pipe:0",
            "-f",
            "null",
            "-",
        ]);
        let mut child =
            Child::spawn("ffmpeg", Path::new("ffmpeg"), &args, true, 5).expect("spawns");
        let pid = child.child.id().expect("pid");
        // The pid is prlimit's until it has set the limit and exec'd nice, then ffmpeg.
        let (mut line, mut comm) = (String::new(), String::new());
        for _ in 0..50 {
            comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
            line = limits
                .lines()
                .find(|l| l.starts_with("Max address space"))
                .unwrap_or_default()
                .to_string();
            if comm.trim() == "ffmpeg" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(comm.trim(), "ffmpeg", "ffmpeg itself started");
        assert!(line.contains(&LIMIT.to_string()), "{line}");
        let _ = child.stop(Duration::from_secs(5)).await;
        // Two huge frames need more: the job fails, with the allocation's failure as its reason.
        let big = argv(&[
            "-hide_banner",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=16000x9000:rate=1",
            "-frames:v",
            "2",
            "-f",
            "null",
            "-",
        ]);
        // (ffmpeg 5.1 reports a failed frame allocation in a lavfi source and ends as if
        // the input had ended, so the stderr says it, not the exit status.)
        let stderr_of = |limit: u64| {
            let big = big.clone();
            async move {
                limit_memory(limit);
                let mut child =
                    Child::spawn("ffmpeg", Path::new("ffmpeg"), &big, false, 0).expect("spawns");
                tokio::time::timeout(Duration::from_secs(60), child.wait())
                    .await
                    .expect("ends")
                    .expect("exit status");
                child.stderr_tail()
            }
        };
        let limited = stderr_of(LIMIT).await;
        assert!(limited.contains("Cannot allocate memory"), "{limited}");
        let unlimited = stderr_of(0).await;
        assert!(!unlimited.contains("Cannot allocate memory"), "{unlimited}");
    }

    #[tokio::test]
    async fn stop_closes_stdin_and_the_child_exits() {
        let args = argv(&[
            "-hide_banner",
            "-f",
            "flv",
            "-i",
            "pipe:0",
            "-f",
            "null",
            "-",
        ]);
        let mut child =
            Child::spawn("ffmpeg", Path::new("ffmpeg"), &args, true, 0).expect("spawns");
        let status = child.stop(Duration::from_secs(5)).await.expect("exits");
        assert!(
            status.code().is_some(),
            "ended by EOF, not killed: {status:?}"
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_job() {
        let args = argv(&[
            "-hide_banner",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "nullsrc=d=60",
            "-f",
            "null",
            "-",
        ]);
        let err = run(
            "ffmpeg",
            Path::new("ffmpeg"),
            &args,
            Duration::from_millis(300),
            5,
        )
        .await
        .expect_err("too slow");
        assert!(matches!(err, FfmpegError::Timeout { .. }));
    }
}
