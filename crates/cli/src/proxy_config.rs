//! `mailport proxy PROJECT --config proxy.toml`: the proxy's flags from a
//! file. Each key is a long flag of `mailport proxy` (`listen_imaps` or
//! `listen-imaps`); a list repeats it, `true` sets a switch. The file's
//! values come first, so flags on the command line override a single value
//! and add to a list.
//!
//! ```toml
//! listen_imap = ["0.0.0.0:143"]
//! listen_imaps = ["0.0.0.0:993"]
//! tls_cert = ["mail.old.example=/etc/ssl/mail.pem,/etc/ssl/mail.key"]
//! metrics = "127.0.0.1:9187"
//! cutover = "auto"
//! ```

use std::ffi::OsString;

use clap::CommandFactory;

/// The command line with a `proxy` command's `--config FILE` read and its
/// flags put before the others; any other command line unchanged.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    if args.get(1).and_then(|a| a.to_str()) != Some("proxy") {
        return Ok(args);
    }
    let mut path = None;
    let mut rest = Vec::new();
    let mut it = args.iter().skip(2);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--config") => {
                let file = it
                    .next()
                    .ok_or("--config needs a file (e.g. --config /etc/mailport/proxy.toml)")?;
                path = Some(std::path::PathBuf::from(file));
            }
            Some(s) if s.starts_with("--config=") => path = Some(s["--config=".len()..].into()),
            _ => rest.push(a.clone()),
        }
    }
    let Some(path) = path else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the proxy configuration {}: {e}",
            path.display()
        )
    })?;
    let from_file = flags(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = args[..2].to_vec();
    // The project, if given first, stays the first positional argument.
    out.extend(from_file.into_iter().map(OsString::from));
    out.extend(rest);
    Ok(out)
}

/// The flags a configuration text stands for.
fn flags(text: &str) -> Result<Vec<String>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not valid TOML: {}", e.message()))?;
    let known: Vec<String> = crate::args::Cli::command()
        .find_subcommand("proxy")
        .map(|c| {
            c.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        if flag == "config" || flag == "help" || !known.contains(&flag) {
            return Err(format!(
                "unknown setting {key:?}: the settings are the long flags of mailport proxy (see mailport proxy --help)"
            ));
        }
        let one = |v: &toml::Value| -> Result<Option<String>, String> {
            match v {
                toml::Value::String(s) => Ok(Some(s.clone())),
                toml::Value::Integer(i) => Ok(Some(i.to_string())),
                toml::Value::Boolean(_) => Err(format!("{key}: a list of switches makes no sense")),
                _ => Err(format!(
                    "{key}: give a string, a number, true/false or a list of strings"
                )),
            }
        };
        match value {
            toml::Value::Boolean(true) => out.push(format!("--{flag}")),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for item in items {
                    if let Some(v) = one(item)? {
                        out.push(format!("--{flag}"));
                        out.push(v);
                    }
                }
            }
            v => {
                if let Some(v) = one(v)? {
                    out.push(format!("--{flag}"));
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn settings_become_flags_before_the_command_lines_own() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("proxy.toml");
        std::fs::write(
            &file,
            "listen_imaps = [\"0.0.0.0:993\", \"[::]:993\"]\nproxy-protocol = true\nallow_plaintext = false\nworkers = 8\ncutover = \"auto\"\n",
        )
        .unwrap();
        let args = os(&[
            "mailport",
            "proxy",
            "acme",
            "--config",
            file.to_str().unwrap(),
            "--workers",
            "2",
        ]);
        let got = expand(args).unwrap();
        let got: Vec<&str> = got.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            got,
            [
                "mailport",
                "proxy",
                "--cutover",
                "auto",
                "--listen-imaps",
                "0.0.0.0:993",
                "--listen-imaps",
                "[::]:993",
                "--proxy-protocol",
                "--workers",
                "8",
                "acme",
                "--workers",
                "2"
            ]
        );
        // Other commands are left alone.
        let copy = os(&["mailport", "copy", "--config", "x"]);
        assert_eq!(expand(copy.clone()).unwrap(), copy);
    }

    #[test]
    fn mistakes_name_the_file_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("proxy.toml");
        for (text, says) in [
            ("listen_imap = [\"a\"\n", "not valid TOML"),
            (
                "listen_imapz = \"0.0.0.0:143\"\n",
                "unknown setting \"listen_imapz\"",
            ),
            ("workers = { n = 1 }\n", "workers: give a string"),
        ] {
            std::fs::write(&file, text).unwrap();
            let args = os(&[
                "mailport",
                "proxy",
                "acme",
                "--config",
                file.to_str().unwrap(),
            ]);
            let e = expand(args).unwrap_err();
            assert!(e.contains(says) && e.contains("proxy.toml"), "{text}: {e}");
        }
        let missing = os(&["mailport", "proxy", "acme", "--config", "/nonexistent.toml"]);
        assert!(expand(missing)
            .unwrap_err()
            .contains("cannot read the proxy configuration /nonexistent.toml"));
    }
}
