//! Private PostgreSQL instances: `initdb` into a temp dir and `pg_ctl start`
//! on a free loopback port, run as the `postgres` user (both refuse root).
//! Trust authentication on loopback: the instance lives only for the test.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::dovecot::{free_port, HarnessError};

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn uid_of(user: &str) -> Option<u32> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&user))
            .then(|| f.get(2)?.parse().ok())
            .flatten()
    })
}

fn run_as_postgres(bin: &Path, tool: &str, args: &[&str], log: &Path) -> Result<(), HarnessError> {
    let out = std::fs::File::create(log)?;
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Start(format!(
            "{tool} failed: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )))
    }
}

impl Postgres {
    pub fn start() -> Result<Postgres, HarnessError> {
        let bin = bin_dir().ok_or_else(|| HarnessError::Start("PostgreSQL is not installed (apt-get install postgresql); scripts/setup installs it".into()))?;
        let uid = uid_of("postgres").ok_or_else(|| {
            HarnessError::Start("no postgres user (install the postgresql package)".into())
        })?;
        let dir = tempfile::Builder::new().prefix("mailport-pg-").tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        for d in [&data, &sock] {
            std::fs::create_dir(d)?;
            std::os::unix::fs::chown(d, Some(uid), Some(uid))?;
        }
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs)?;
        std::os::unix::fs::chown(&logs, Some(uid), Some(uid))?;
        run_as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            &logs.join("initdb.txt"),
        )?;
        let port = free_port()?;
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            sock.display()
        );
        let pg = Postgres { dir, bin, port };
        run_as_postgres(
            &pg.bin,
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &logs.join("server.log").display().to_string(),
                "-w",
                "start",
            ],
            &pg.dir.path().join("pg_ctl.txt"),
        )?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Everything the database holds, as `pg_dump` writes it (to grep a
    /// dump for what must not be in it).
    pub fn dump(&self) -> Result<String, HarnessError> {
        let out = Command::new(self.bin.join("pg_dump"))
            .arg("--dbname")
            .arg(self.url())
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(HarnessError::Start(format!(
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
