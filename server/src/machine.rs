//! The machine as Linux's `/proc` shows it, for the status page: CPU busy over a short
//! sample, memory in use, and the server's own resident memory.

use std::time::Duration;

/// CPU busy (all cores, 0–100) over `window`, and the number of cores.
pub async fn cpu(window: Duration) -> (f64, u32) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let Some(before) = cpu_times() else {
        return (0.0, cores);
    };
    tokio::time::sleep(window).await;
    let Some(after) = cpu_times() else {
        return (0.0, cores);
    };
    let total = after.1.saturating_sub(before.1);
    let busy = after.0.saturating_sub(before.0);
    let percent = if total == 0 {
        0.0
    } else {
        busy as f64 * 100.0 / total as f64
    };
    (percent, cores)
}

/// (busy, total) jiffies from the first line of `/proc/stat`.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut parts = line.split_whitespace();
    if parts.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = parts.filter_map(|p| p.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    Some((total.saturating_sub(idle), total))
}

/// (used, total) bytes of memory: total less what is available.
pub fn memory() -> (u64, u64) {
    let Ok(info) = std::fs::read_to_string("/proc/meminfo") else {
        return (0, 0);
    };
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(total), Some(available)) => (total.saturating_sub(available), total),
        _ => (0, 0),
    }
}

/// The server process's resident memory in bytes.
pub fn server_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// The 1-minute load average, when `/proc/loadavg` can be read.
pub fn load_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cpu_line() {
        assert_eq!(
            parse_cpu_line("cpu  100 0 50 800 50 0 0 0 0 0"),
            Some((150, 1000))
        );
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4"), None);
    }

    #[test]
    fn reads_this_machine() {
        let (used, total) = memory();
        assert!(total > 0 && used <= total);
        assert!(server_rss() > 0);
    }
}
