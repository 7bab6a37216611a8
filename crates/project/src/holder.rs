//! Who holds a mailbox's lease: `KIND@HOST:PID`, and `/N` for a process's
//! N-th worker (`proxy@mail1:4242/2`). A lease normally runs out when its
//! holder stops renewing it; but a process can tell that a holder on its
//! own machine has died (no such process any more) and free that
//! holder's mailboxes at once, so that a restart after a crash resumes its
//! moves in seconds instead of after the lease.

/// This machine's name (the kernel's), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A holder name for this process.
pub fn here(kind: &str) -> String {
    format!("{kind}@{}:{}", hostname(), std::process::id())
}

/// Whether `holder` is a process of this machine that no longer runs.
pub fn dead_here(holder: &str) -> bool {
    let base = holder.split('/').next().unwrap_or(holder);
    let Some((kind_host, pid)) = base.rsplit_once(':') else {
        return false;
    };
    let Some((_, host)) = kind_host.split_once('@') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == hostname()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gone_process_of_this_machine_is_dead() {
        let me = here("proxy");
        assert!(me.starts_with("proxy@") && me.ends_with(&std::process::id().to_string()));
        assert!(!dead_here(&me));
        assert!(!dead_here(&format!("{me}/3")));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = format!("worker@{}:{pid}/0", hostname());
        assert!(dead_here(&gone));
        assert!(!dead_here(&format!("worker@elsewhere.example:{pid}")));
        assert!(!dead_here("host:123"), "an old-style name is never judged");
    }
}
