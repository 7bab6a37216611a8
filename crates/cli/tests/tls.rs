//! Certificates and connection settings, as a user meets them: the real
//! `mailport` binary against private Dovecots serving good and broken
//! certificates, on their real plain and TLS ports.

use std::process::{Command, Output, Stdio};

use mailport_net::Fingerprint;
use mailport_testbed::certs::{self, CertKind, TestCerts};
use mailport_testbed::cli::{start_dovecot, text, Migration};
use mailport_testbed::{Dovecot, DovecotOptions};

const MAILPORT: &str = env!("CARGO_BIN_EXE_mailport");

/// A Dovecot serving a certificate of `kind`; the directory holds its files.
fn serve(kind: CertKind) -> (Dovecot, TestCerts, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs::generate_kind(dir.path(), &kind).unwrap();
    let server = start_dovecot(DovecotOptions {
        certs: Some(certs.clone()),
        ..Default::default()
    });
    (server, certs, dir)
}

fn fingerprint_of(cert_pem: &std::path::Path) -> String {
    let pem = std::fs::read(cert_pem).unwrap();
    let der = mailport_net::tls::pem_certificates(&pem);
    Fingerprint::of(&der[0]).to_string()
}

/// `mailport copy` from alice at `from` (source password of `src`) to a
/// well-configured destination, keeping no state.
fn copy_from(src: &Dovecot, from: &str, dst: &Dovecot, args: &[&str]) -> Output {
    Command::new(MAILPORT)
        .args(["copy", "--from", from, "--to", &dst.imap_url("alice")])
        .args(if args.contains(&"--to-tls-fingerprint") {
            vec![]
        } else {
            vec![
                "--to-tls-ca".into(),
                dst.certs.ca_pem.clone().into_os_string(),
            ]
        })
        .args(["--no-state"])
        .args(args)
        .env("MAILPORT_FROM_PASSWORD", src.password("alice"))
        .env("MAILPORT_TO_PASSWORD", dst.password("alice"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_no_password(o: &Output, servers: &[&Dovecot]) {
    let all = text(o);
    for s in servers {
        assert!(
            !all.contains(s.password("alice")),
            "a password leaked: {all}"
        );
    }
}

#[test]
fn refused_certificates_say_why_then_the_printed_pin_works() {
    let dst = start_dovecot(DovecotOptions::default());
    enum Trust {
        /// --from-tls-ca with the CA that issued the certificate.
        Own,
        /// The system's CAs.
        System,
        /// --from-tls-ca with another CA of the same name.
        Impostor,
    }
    let cases: Vec<(CertKind, Trust, Vec<&str>)> = vec![
        (
            CertKind::Expired,
            Trust::Own,
            vec![
                "has expired",
                "valid from 2020-01-01 00:00:00 UTC to 2021-01-01 00:00:00 UTC",
                "must renew",
            ],
        ),
        (
            CertKind::NotYetValid,
            Trust::Own,
            vec!["is not valid yet", "2090-01-01 00:00:00 UTC", "clock"],
        ),
        (
            CertKind::Names(vec!["mail.example.org".into()]),
            Trust::Own,
            vec![
                "its certificate is not valid for the name localhost; it is valid for: mail.example.org",
                // The fix names the URL that would work.
                "--from imaps://alice@mail.example.org:",
            ],
        ),
        (
            CertKind::SelfSigned,
            Trust::Own,
            vec!["its certificate is self-signed (CN=localhost)", "openssl x509"],
        ),
        // A valid certificate, but from a CA the system does not know.
        (
            CertKind::Valid,
            Trust::System,
            vec![
                "issued by an unknown CA (CN=mailport test CA)",
                "trust the issuing CA: --from-tls-ca",
            ],
        ),
        (
            CertKind::Valid,
            Trust::Impostor,
            vec![
                "names a trusted CA as its issuer (CN=mailport test CA), but that CA did not sign it",
                "--from-tls-ca",
            ],
        ),
    ];
    for (kind, trust, needles) in cases {
        let (src, certs, _dir) = serve(kind.clone());
        let url = src.imaps_url("alice");
        let trust = match trust {
            Trust::Own => vec!["--from-tls-ca", certs.ca_pem.to_str().unwrap()],
            Trust::System => vec![],
            Trust::Impostor => vec!["--from-tls-ca", dst.certs.ca_pem.to_str().unwrap()],
        };
        let out = copy_from(&src, &url, &dst, &trust);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{kind:?}: {}", text(&out));
        assert!(
            err.contains("source: cannot verify the identity of localhost"),
            "{kind:?}: {err}"
        );
        for needle in needles {
            assert!(err.contains(needle), "{kind:?} lacks {needle:?}: {err}");
        }
        let expected = fingerprint_of(&certs.cert_pem);
        assert!(
            err.contains(&format!("fingerprint: {expected}")),
            "{kind:?}: {err}"
        );
        assert!(
            err.contains(&format!("--from-tls-fingerprint {expected}")),
            "{kind:?}: {err}"
        );
        assert_no_password(&out, &[&src, &dst]);

        let out = copy_from(&src, &url, &dst, &["--from-tls-fingerprint", &expected]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{kind:?} pinned: {}",
            text(&out)
        );
    }
}

/// What mbsync's CertificateFile and OfflineIMAP's sslcacertfile take: the
/// server's own self-signed certificate as the CA file, also when it is
/// marked CA:TRUE (`openssl req -x509`).
#[test]
fn a_servers_own_self_signed_certificate_as_the_ca_file_is_trusted() {
    let dst = start_dovecot(DovecotOptions::default());
    for kind in [CertKind::SelfSigned, CertKind::SelfSignedCa] {
        let (src, certs, _dir) = serve(kind.clone());
        let own = certs.cert_pem.to_str().unwrap();
        let out = copy_from(&src, &src.imaps_url("alice"), &dst, &["--from-tls-ca", own]);
        assert_eq!(out.status.code(), Some(0), "{kind:?}: {}", text(&out));
    }
    // Another self-signed certificate of the same name (Debian's snakeoil
    // certificate is CN=localhost too): it is called self-signed, with the
    // pin that works, not "a different CA with the same name".
    let (src, certs, _dir) = serve(CertKind::SelfSignedCa);
    let other_dir = tempfile::tempdir().unwrap();
    let other = certs::generate_kind(other_dir.path(), &CertKind::SelfSignedCa).unwrap();
    let out = copy_from(
        &src,
        &src.imaps_url("alice"),
        &dst,
        &["--from-tls-ca", other.cert_pem.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("its certificate is self-signed (CN=localhost)"),
        "{err}"
    );
    assert!(!err.contains("same name"), "{err}");
    let pin = fingerprint_of(&certs.cert_pem);
    assert!(
        err.contains(&format!("--from-tls-fingerprint {pin}")),
        "{err}"
    );
    assert!(!err.contains("Other("), "a Debug-printed error: {err}");
}

#[test]
fn a_wrong_pin_names_both_fingerprints() {
    let dst = start_dovecot(DovecotOptions::default());
    let (src, certs, _dir) = serve(CertKind::SelfSigned);
    let pinned = format!("sha256:{}", "ab".repeat(32));
    let out = copy_from(
        &src,
        &src.imaps_url("alice"),
        &dst,
        &["--from-tls-fingerprint", &pinned],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    let presented = fingerprint_of(&certs.cert_pem);
    assert!(
        err.contains(&format!(
            "its certificate is not the pinned one: pinned {pinned}, server presented {presented}"
        )),
        "{err}"
    );
    assert!(err.contains("someone may be intercepting"), "{err}");
    assert_no_password(&out, &[&src, &dst]);

    // The destination's pin is checked too, and a malformed one is a usage error.
    let out = copy_from(
        &src,
        &src.imaps_url("alice"),
        &dst,
        &[
            "--from-tls-fingerprint",
            &presented,
            "--to-tls-fingerprint",
            &pinned,
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        stderr(&out).contains("destination: cannot verify"),
        "{}",
        text(&out)
    );
    let out = copy_from(
        &src,
        &src.imaps_url("alice"),
        &dst,
        &["--from-tls-fingerprint", "sha256:abc"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("64 hex digits"), "{}", text(&out));
}

#[test]
fn tls_insecure_connects_to_anything_and_warns_on_every_run() {
    let dst = start_dovecot(DovecotOptions::default());
    let (src, _certs, _dir) = serve(CertKind::Expired);
    for _ in 0..2 {
        let out = copy_from(&src, &src.imaps_url("alice"), &dst, &["--tls-insecure"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let warnings: Vec<_> = stderr(&out)
            .lines()
            .filter(|l| l.contains("WARNING: --tls-insecure"))
            .map(String::from)
            .collect();
        assert_eq!(warnings.len(), 1, "{}", text(&out));
    }
}

#[test]
fn sni_selects_the_certificate_and_an_ip_address_sends_none() {
    // Default certificate for mail.example.org; for the SNI name "localhost"
    // Dovecot serves another one. Both CAs are trusted, so only the name decides.
    let dir = tempfile::tempdir().unwrap();
    let (default_dir, named_dir) = (dir.path().join("default"), dir.path().join("named"));
    std::fs::create_dir_all(&default_dir).unwrap();
    std::fs::create_dir_all(&named_dir).unwrap();
    let default = certs::generate_kind(
        &default_dir,
        &CertKind::Names(vec!["mail.example.org".into()]),
    )
    .unwrap();
    let named = certs::generate(&named_dir).unwrap();
    let both_cas = dir.path().join("cas.pem");
    std::fs::write(
        &both_cas,
        [
            std::fs::read(&default.ca_pem).unwrap(),
            std::fs::read(&named.ca_pem).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let src = start_dovecot(DovecotOptions {
        certs: Some(default.clone()),
        extra_conf: format!(
            "local_name localhost {{\n  ssl_cert = <{}\n  ssl_key = <{}\n}}\n",
            named.cert_pem.display(),
            named.key_pem.display()
        ),
        ..Default::default()
    });
    let dst = start_dovecot(DovecotOptions::default());
    let ca = both_cas.to_str().unwrap();

    let out = copy_from(&src, &src.imaps_url("alice"), &dst, &["--from-tls-ca", ca]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let by_ip = format!("imaps://alice@127.0.0.1:{}", src.imaps_port);
    let out = copy_from(&src, &by_ip, &dst, &["--from-tls-ca", ca]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not valid for the name 127.0.0.1; it is valid for: mail.example.org"),
        "{err}"
    );
    assert!(err.contains(&fingerprint_of(&default.cert_pem)), "{err}");
}

#[test]
fn implicit_tls_url_on_the_starttls_port_falls_back_to_starttls() {
    let dst = start_dovecot(DovecotOptions::default());
    let src = start_dovecot(DovecotOptions::default());
    let wrong = format!("imaps://alice@localhost:{}", src.imap_port);
    let right = format!("imap://alice@localhost:{}", src.imap_port);
    let ca = src.certs.ca_pem.to_str().unwrap();
    let out = copy_from(&src, &wrong, &dst, &["--from-tls-ca", ca]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = stderr(&out);
    let note = err
        .lines()
        .find(|l| l.contains("note:"))
        .unwrap_or_else(|| panic!("no discovery note: {err}"));
    assert!(
        note.contains(&format!("source {wrong} did not connect")),
        "{note}"
    );
    assert!(note.contains("did not answer with TLS"), "{note}");
    assert!(
        note.contains(&format!(
            "{right} (STARTTLS) does: give --from {right} next time"
        )),
        "{note}"
    );
    assert_no_password(&out, &[&src, &dst]);
}

#[test]
fn starttls_url_on_the_tls_port_falls_back_to_implicit_tls() {
    let dst = start_dovecot(DovecotOptions::default());
    let src = start_dovecot(DovecotOptions::default());
    let wrong = format!("imap://alice@localhost:{}", src.imaps_port);
    let right = format!("imaps://alice@localhost:{}", src.imaps_port);
    let ca = src.certs.ca_pem.to_str().unwrap();
    // The server waits for a TLS hello, mailport for a greeting: only the
    // timeout ends the first attempt.
    let started = std::time::Instant::now();
    let out = copy_from(&src, &wrong, &dst, &["--from-tls-ca", ca, "--timeout", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{right} (implicit TLS) does: give --from {right} next time"
        )),
        "{err}"
    );
}

#[test]
fn nothing_listening_lists_what_was_tried() {
    let dst = start_dovecot(DovecotOptions::default());
    let src = start_dovecot(DovecotOptions::default());
    let closed = mailport_testbed::dovecot::free_port().unwrap();
    let url = format!("imaps://alice@127.0.0.1:{closed}");
    let out = copy_from(&src, &url, &dst, &["--timeout", "3"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("source: cannot connect to 127.0.0.1:{closed}")),
        "{err}"
    );
    // Not the same closed port again with other security; the standard ports.
    assert!(
        !err.contains(&format!("imap://alice@127.0.0.1:{closed}")),
        "{err}"
    );
    assert!(err.contains("also tried imap://alice@127.0.0.1:"), "{err}");
    assert!(!err.contains("note:"), "{err}");
    // Said once per attempt, not repeated by each layer of the error chain.
    for line in err.lines() {
        assert!(line.matches("Connection refused").count() <= 1, "{err}");
    }
}

/// A host name that does not resolve is said once, with the fix, and no
/// other port is tried (none would help).
#[test]
fn a_host_that_does_not_resolve_is_not_tried_on_other_ports() {
    let dst = start_dovecot(DovecotOptions::default());
    let src = start_dovecot(DovecotOptions::default());
    let out = copy_from(
        &src,
        "imaps://alice@no-such-host.invalid",
        &dst,
        &["--timeout", "5"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot find the host no-such-host.invalid")
            && err.contains("check the host name in the URL"),
        "{err}"
    );
    assert_eq!(err.matches("cannot find the host").count(), 1, "{err}");
    assert!(!err.contains("also tried"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

#[test]
fn a_refused_login_is_not_worked_around() {
    let m = Migration::dovecots(MAILPORT);
    let out = m.run(
        m.command("copy")
            .arg("--no-state")
            .env("MAILPORT_FROM_PASSWORD", "Wr0ng-Secret"),
        3,
    );
    let err = stderr(&out);
    assert!(err.contains("login as \"alice\""), "{err}");
    assert!(
        !err.contains("note:") && !err.contains("also tried"),
        "{err}"
    );
    assert!(!text(&out).contains("Wr0ng-Secret"), "{}", text(&out));
}

#[test]
fn help_explains_the_tls_flags() {
    let out = Command::new(MAILPORT)
        .args(["copy", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--from-tls-fingerprint <sha256:HEX>",
        "--to-tls-fingerprint",
        "--tls-insecure",
        "--from-no-tls",
        "--to-no-tls",
        "next time",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}: {help}");
    }
}

#[test]
fn no_tls_keeps_a_side_in_plain_text_even_when_starttls_is_offered() {
    let dst = start_dovecot(DovecotOptions::default());
    let src = start_dovecot(DovecotOptions::default());
    let from = src.imap_url("alice");
    let ca = src.certs.ca_pem.to_str().unwrap();
    // Without the flags imap:// is upgraded: the trace shows STARTTLS.
    let upgraded = copy_from(&src, &from, &dst, &["--from-tls-ca", ca, "--debug"]);
    assert_eq!(upgraded.status.code(), Some(0), "{}", text(&upgraded));
    let sent_starttls = |trace: &str| {
        trace
            .lines()
            .any(|l| l.contains("C: ") && l.contains(" STARTTLS"))
    };
    assert!(sent_starttls(&stderr(&upgraded)), "{}", text(&upgraded));

    let plain = copy_from(
        &src,
        &from,
        &dst,
        &[
            "--allow-plaintext",
            "--from-no-tls",
            "--to-no-tls",
            "--debug",
        ],
    );
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    let trace = stderr(&plain);
    assert!(trace.contains("LOGIN"), "{trace}");
    assert!(!sent_starttls(&trace), "{trace}");
    assert_no_password(&plain, &[&src, &dst]);

    // Plain text is never silent: the flag needs --allow-plaintext ...
    let refused = copy_from(&src, &from, &dst, &["--from-no-tls"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        stderr(&refused).contains("--allow-plaintext"),
        "{}",
        text(&refused)
    );
    // ... and contradicts an implicit-TLS URL, which the message replaces.
    let tls_url = src.imaps_url("alice");
    let contradiction = copy_from(
        &src,
        &tls_url,
        &dst,
        &["--allow-plaintext", "--from-no-tls"],
    );
    assert_eq!(
        contradiction.status.code(),
        Some(2),
        "{}",
        text(&contradiction)
    );
    let err = stderr(&contradiction);
    assert!(err.contains("--from-no-tls"), "{err}");
    assert!(err.contains("imap://alice@localhost"), "{err}");
}
