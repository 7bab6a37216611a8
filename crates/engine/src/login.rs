//! Who logs in and how: the user's password, an OAuth 2.0 access token, or
//! an administrator acting for the user in the syntax the server expects.
//! Policy lives here (which mechanism, which login string); the SASL bytes
//! are the protocol crate's.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mailport_imap::{Client, Error, Sasl};
use tokio::io::{AsyncRead, AsyncWrite};
use zeroize::Zeroizing;

/// A password that never shows in logs or debug output and is wiped on drop.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(Zeroizing::new(s))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to log in to one side.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// The user's own password.
    Password(Secret),
    /// An OAuth 2.0 access token (XOAUTH2 or OAUTHBEARER).
    Token(TokenSource),
    /// An administrator logs in for the user, with the admin's password.
    Admin {
        login: String,
        password: Secret,
        style: AdminStyle,
    },
}

/// Where an access token comes from. A file is read on every login (another
/// program may refresh it); a command runs once, and again when the server
/// refuses the token it printed (it expired).
#[derive(Clone, Debug)]
pub enum TokenSource {
    Value(Secret),
    File(PathBuf),
    Command {
        command: String,
        cached: Arc<Mutex<Option<Secret>>>,
    },
}

impl TokenSource {
    pub fn command(command: String) -> Self {
        TokenSource::Command {
            command,
            cached: Arc::default(),
        }
    }

    pub(crate) async fn get(&self, fresh: bool) -> Result<Secret, String> {
        match self {
            TokenSource::Value(s) => Ok(s.clone()),
            TokenSource::File(path) => {
                let text =
                    zeroize::Zeroizing::new(tokio::fs::read_to_string(path).await.map_err(
                        |e| format!("cannot read the token file {}: {e}", path.display()),
                    )?);
                first_line(&text)
                    .ok_or_else(|| format!("the token file {} is empty", path.display()))
            }
            TokenSource::Command { command, cached } => {
                if !fresh {
                    if let Some(t) = cached.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                        return Ok(t);
                    }
                }
                let out = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .await
                    .map_err(|e| format!("cannot run the token command: {e}"))?;
                let stdout =
                    zeroize::Zeroizing::new(String::from_utf8_lossy(&out.stdout).into_owned());
                if !out.status.success() {
                    // Its stderr is the command's own message, not the token.
                    let err = String::from_utf8_lossy(&out.stderr);
                    return Err(format!(
                        "the token command failed ({}): {}",
                        out.status,
                        err.trim()
                    ));
                }
                let token = first_line(&stdout)
                    .ok_or_else(|| "the token command printed no token".to_string())?;
                *cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                Ok(token)
            }
        }
    }

    pub(crate) fn can_refresh(&self) -> bool {
        !matches!(self, TokenSource::Value(_))
    }
}

fn first_line(text: &str) -> Option<Secret> {
    let line = text.lines().next().unwrap_or("").trim();
    (!line.is_empty()).then(|| Secret::new(line.to_string()))
}

/// How servers let an administrator open a user's mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminStyle {
    /// SASL PLAIN with authorization identity = user, authentication identity
    /// = admin (RFC 4616; Dovecot, Cyrus, Zimbra, Stalwart...).
    Authzid,
    /// Dovecot master user: LOGIN `user*admin`.
    DovecotMaster,
    /// Exchange: LOGIN `DOMAIN/admin/user` (the admin given as `DOMAIN/admin`).
    Exchange,
    /// Mirapoint: LOGIN `#user#admin#`.
    Mirapoint,
}

impl AdminStyle {
    /// The login name for LOGIN-based styles; None for SASL authzid.
    pub fn login_name(self, user: &str, admin: &str) -> Result<Option<String>, String> {
        Ok(match self {
            AdminStyle::Authzid => None,
            AdminStyle::DovecotMaster => Some(format!("{user}*{admin}")),
            AdminStyle::Exchange => {
                if !admin.contains(['/', '\\']) {
                    return Err(format!(
                        "the exchange admin style needs the admin as DOMAIN/ADMIN, not {admin:?}"
                    ));
                }
                Some(format!("{}/{user}", admin.replace('\\', "/")))
            }
            AdminStyle::Mirapoint => Some(format!("#{user}#{admin}#")),
        })
    }
}

/// A mechanism the user insists on (`--auth-mech`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMech {
    Login,
    Plain,
    XOAuth2,
    OAuthBearer,
    /// POP3 only (RFC 1939): the password never crosses the wire.
    Apop,
}

impl AuthMech {
    pub fn name(self) -> &'static str {
        match self {
            AuthMech::Login => "LOGIN",
            AuthMech::Plain => "PLAIN",
            AuthMech::XOAuth2 => "XOAUTH2",
            AuthMech::OAuthBearer => "OAUTHBEARER",
            AuthMech::Apop => "APOP",
        }
    }
}

/// Why a login did not happen. `Refused` is the server's verdict on the
/// credentials; `Unsupported` a mismatch of what we have and what it offers.
#[derive(Debug)]
pub(crate) enum LoginError {
    Refused(String),
    Unsupported(String),
    Imap(Error),
}

/// Where the login goes: the user to open, and the server's name (OAUTHBEARER sends it).
pub(crate) struct Account<'a> {
    pub user: &'a str,
    pub host: &'a str,
    pub port: u16,
}

pub(crate) async fn log_in<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    target: &Account<'_>,
    credentials: &Credentials,
    forced: Option<AuthMech>,
) -> Result<(), LoginError> {
    let offers = |m: &str| client.has_capability(&format!("AUTH={m}"));
    let mechs: Vec<String> = client
        .capabilities()
        .iter()
        .filter_map(|c| c.strip_prefix("AUTH="))
        .map(str::to_string)
        .collect();
    let offered = || {
        if mechs.is_empty() {
            "none".to_string()
        } else {
            mechs.join(" ")
        }
    };
    let login_disabled = client.has_capability("LOGINDISABLED");
    match credentials {
        Credentials::Password(password) => {
            let mech = match forced {
                Some(m @ (AuthMech::Login | AuthMech::Plain)) => m,
                Some(AuthMech::Apop) => {
                    return Err(LoginError::Unsupported(
                        "APOP is a POP3 login; IMAP servers use LOGIN or PLAIN".into(),
                    ))
                }
                Some(m) => {
                    return Err(LoginError::Unsupported(format!(
                        "{} needs an access token, not a password",
                        m.name()
                    )))
                }
                None if login_disabled && offers("PLAIN") => AuthMech::Plain,
                None if login_disabled => {
                    return Err(LoginError::Unsupported(format!(
                        "the server disables LOGIN (LOGINDISABLED) and does not offer AUTH=PLAIN; it offers: {}",
                        offered()
                    )))
                }
                None => AuthMech::Login,
            };
            password_login(client, mech, "", target.user, password).await
        }
        Credentials::Admin {
            login,
            password,
            style,
        } => {
            match style
                .login_name(target.user, login)
                .map_err(LoginError::Unsupported)?
            {
                None => {
                    if forced == Some(AuthMech::Login) {
                        return Err(LoginError::Unsupported(
                            "the authzid admin style needs AUTHENTICATE PLAIN, not LOGIN".into(),
                        ));
                    }
                    password_login(client, AuthMech::Plain, target.user, login, password).await
                }
                Some(name) => {
                    let mech = match forced {
                        Some(AuthMech::Plain) => AuthMech::Plain,
                        _ if login_disabled => AuthMech::Plain,
                        _ => AuthMech::Login,
                    };
                    password_login(client, mech, "", &name, password).await
                }
            }
        }
        Credentials::Token(source) => {
            let mech = match forced {
                Some(m @ (AuthMech::XOAuth2 | AuthMech::OAuthBearer)) => m,
                Some(m) => {
                    return Err(LoginError::Unsupported(format!(
                        "{} needs a password; an access token logs in with XOAUTH2 or OAUTHBEARER",
                        m.name()
                    )))
                }
                None if offers("OAUTHBEARER") => AuthMech::OAuthBearer,
                None if offers("XOAUTH2") => AuthMech::XOAuth2,
                None => {
                    return Err(LoginError::Unsupported(format!(
                        "the server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2 for the access token; it offers: {}",
                        offered()
                    )))
                }
            };
            let token = source.get(false).await.map_err(LoginError::Unsupported)?;
            match token_login(client, mech, target, &token).await {
                Err(LoginError::Refused(_)) if source.can_refresh() => {
                    // Expired, most likely: ask for a new one once.
                    let token = source.get(true).await.map_err(LoginError::Unsupported)?;
                    token_login(client, mech, target, &token).await
                }
                other => other,
            }
        }
    }
}

async fn password_login<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    mech: AuthMech,
    authzid: &str,
    authcid: &str,
    password: &Secret,
) -> Result<(), LoginError> {
    let password = password.expose().as_bytes();
    let r = match mech {
        AuthMech::Plain => client.authenticate_plain(authzid, authcid, password).await,
        _ => client.login(authcid, password).await,
    };
    verdict(r)
}

async fn token_login<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    mech: AuthMech,
    target: &Account<'_>,
    token: &Secret,
) -> Result<(), LoginError> {
    let token = token.expose();
    let sasl = match mech {
        AuthMech::OAuthBearer => Sasl::OAuthBearer {
            user: target.user,
            host: target.host,
            port: target.port,
            token,
        },
        _ => Sasl::XOAuth2 {
            user: target.user,
            token,
        },
    };
    verdict(client.authenticate(&sasl).await)
}

fn verdict(r: Result<(), Error>) -> Result<(), LoginError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.is_auth() => Err(LoginError::Refused(match e {
            Error::No { text, .. } => text,
            other => other.to_string(),
        })),
        // A NO to LOGIN/AUTHENTICATE that says "try later" is not a verdict on the password.
        Err(e @ Error::No { .. }) if e.is_transient() => Err(LoginError::Imap(e)),
        Err(Error::No { text, .. }) => Err(LoginError::Refused(text)),
        Err(e) => Err(LoginError::Imap(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_login_names_in_each_servers_syntax() {
        let name = |s: AdminStyle, admin: &str| s.login_name("alice@example.org", admin);
        assert_eq!(name(AdminStyle::Authzid, "admin"), Ok(None));
        assert_eq!(
            name(AdminStyle::DovecotMaster, "admin"),
            Ok(Some("alice@example.org*admin".into()))
        );
        assert_eq!(
            name(AdminStyle::Exchange, "CONTOSO\\migrator"),
            Ok(Some("CONTOSO/migrator/alice@example.org".into()))
        );
        assert!(name(AdminStyle::Exchange, "migrator")
            .unwrap_err()
            .contains("DOMAIN/ADMIN"));
        assert_eq!(
            name(AdminStyle::Mirapoint, "admin"),
            Ok(Some("#alice@example.org#admin#".into()))
        );
    }

    #[tokio::test]
    async fn a_token_command_runs_again_only_when_asked_for_a_fresh_token() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("n");
        let cmd = format!(
            "n=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}; echo token-$n",
            counter.display()
        );
        let src = TokenSource::command(cmd);
        assert_eq!(src.get(false).await.unwrap().expose(), "token-1");
        assert_eq!(src.get(false).await.unwrap().expose(), "token-1");
        assert_eq!(src.get(true).await.unwrap().expose(), "token-2");
        let failing = TokenSource::command("echo nope >&2; exit 3".into());
        let e = failing.get(false).await.unwrap_err();
        assert!(e.contains("nope") && e.contains('3'), "{e}");
    }
}
