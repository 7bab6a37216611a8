//! What each side logs in with, from the flags and environment: an OAuth
//! token, an admin's password acting for the user, or the user's password.

use std::path::Path;

use anyhow::bail;
use mailport_engine::{AdminStyle, AuthMech, Credentials, Secret, Side, TokenSource};

use crate::args::{AdminStyleArg, AuthMechArg, LoginArgs};
use crate::password;

/// One side's login flags.
struct SideFlags<'a> {
    /// "source" or "destination".
    side: &'static str,
    /// "from" or "to": flag and variable names derive from it.
    prefix: &'static str,
    password_file: Option<&'a Path>,
    admin: Option<&'a str>,
    style: AdminStyleArg,
    token_file: Option<&'a Path>,
    token_command: Option<&'a str>,
    mech: Option<AuthMechArg>,
}

/// What `side` logs in with, and the mechanism the user forced, if any.
pub fn for_side(
    l: &LoginArgs,
    side: Side,
    password_file: Option<&Path>,
    user: &str,
) -> anyhow::Result<(Credentials, Option<AuthMech>)> {
    let flags = match side {
        Side::Source => SideFlags {
            side: "source",
            prefix: "from",
            password_file,
            admin: l.from_admin.as_deref(),
            style: l.from_admin_style,
            token_file: l.from_oauth_token_file.as_deref(),
            token_command: l.from_oauth_token_command.as_deref(),
            mech: l.from_auth_mech,
        },
        Side::Destination => SideFlags {
            side: "destination",
            prefix: "to",
            password_file,
            admin: l.to_admin.as_deref(),
            style: l.to_admin_style,
            token_file: l.to_oauth_token_file.as_deref(),
            token_command: l.to_oauth_token_command.as_deref(),
            mech: l.to_auth_mech,
        },
    };
    obtain(&flags, user)
}

fn obtain(f: &SideFlags<'_>, user: &str) -> anyhow::Result<(Credentials, Option<AuthMech>)> {
    let mech = f.mech.map(|m| match m {
        AuthMechArg::Login => AuthMech::Login,
        AuthMechArg::Plain => AuthMech::Plain,
        AuthMechArg::Xoauth2 => AuthMech::XOAuth2,
        AuthMechArg::Oauthbearer => AuthMech::OAuthBearer,
        AuthMechArg::Apop => AuthMech::Apop,
    });
    let token_env = format!("MAILPORT_{}_OAUTH_TOKEN", f.prefix.to_uppercase());
    let token = if let Some(path) = f.token_file {
        if let Err(e) = std::fs::metadata(path) {
            bail!(
                "cannot read the {} token file {}: {e}",
                f.side,
                path.display()
            );
        }
        Some(TokenSource::File(path.to_path_buf()))
    } else if let Some(cmd) = f.token_command {
        Some(TokenSource::command(cmd.to_string()))
    } else {
        std::env::var(&token_env)
            .ok()
            .filter(|t| !t.is_empty() && f.admin.is_none())
            .map(|t| TokenSource::Value(Secret::new(t)))
    };
    if let Some(token) = token {
        return Ok((Credentials::Token(token), mech));
    }
    if matches!(mech, Some(AuthMech::XOAuth2 | AuthMech::OAuthBearer)) {
        bail!(
            "--{p}-auth-mech {m} needs an access token: give --{p}-oauth-token-file FILE, --{p}-oauth-token-command CMD or set {token_env}",
            p = f.prefix,
            m = f.mech.map(|m| format!("{m:?}").to_lowercase()).unwrap_or_default()
        );
    }
    let password_env = format!("MAILPORT_{}_PASSWORD", f.prefix.to_uppercase());
    let flag = format!("--{}-password-file", f.prefix);
    match f.admin {
        None => {
            let p = password::obtain(f.password_file, &password_env, &flag, f.side, user)?;
            Ok((Credentials::Password(p), mech))
        }
        Some(admin) => {
            let style = match f.style {
                AdminStyleArg::Authzid => AdminStyle::Authzid,
                AdminStyleArg::DovecotMaster => AdminStyle::DovecotMaster,
                AdminStyleArg::Exchange => AdminStyle::Exchange,
                AdminStyleArg::Mirapoint => AdminStyle::Mirapoint,
            };
            // Checked now, not at the first connection.
            if let Err(e) = style.login_name(user, admin) {
                bail!("--{}-admin: {e}", f.prefix);
            }
            let who = format!("admin {admin} for {user}");
            let password = password::obtain(f.password_file, &password_env, &flag, f.side, &who)?;
            Ok((
                Credentials::Admin {
                    login: admin.to_string(),
                    password,
                    style,
                },
                mech,
            ))
        }
    }
}
