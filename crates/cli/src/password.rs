//! Where passwords come from: a file, the environment, or a prompt. Never echoed.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};
use mailport_engine::Secret;

/// `side` is "source" or "destination"; `env` the variable to read; `flag`
/// the file flag to suggest; `user` whom the password is for.
pub fn obtain(
    file: Option<&Path>,
    env: &str,
    flag: &str,
    side: &str,
    user: &str,
) -> anyhow::Result<Secret> {
    if let Some(path) = file {
        let text =
            zeroize::Zeroizing::new(std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the {side} password file {}", path.display())
            })?);
        let first = text.lines().next().unwrap_or("");
        if first.is_empty() {
            bail!("the {side} password file {} is empty", path.display());
        }
        return Ok(Secret::new(first.to_string()));
    }
    if let Ok(p) = std::env::var(env) {
        return Ok(Secret::new(p));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Password for {user} ({side}): "))
            .context("cannot read the password")?;
        return Ok(Secret::new(p));
    }
    bail!("no password for the {side} ({user}): give {flag} FILE or set {env}")
}
