//! Why a server certificate was refused, in words a user can act on.
//!
//! The webpki verifier says *that* a certificate failed and roughly why; a
//! user also needs the validity dates, the names the certificate does cover
//! and a fingerprint to pin. Those come from a minimal DER reader over the
//! few X.509 fields involved, which keeps a full X.509 parser (and its
//! dependency tree) out of the build.

use std::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate's DER, as users pin it: `sha256:HEX`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = String;

    /// Accepts `sha256:` + 64 hex digits; colons between bytes (as
    /// `openssl x509 -fingerprint -sha256` prints them) and either case are fine.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let hex = match s.split_once(':') {
            Some((algo, rest)) if algo.eq_ignore_ascii_case("sha256") => rest,
            Some((algo, _))
                if algo.chars().all(|c| c.is_ascii_alphanumeric()) && algo.len() > 2 =>
            {
                return Err(format!(
                    "only sha256 fingerprints are supported, not {algo:?}; write sha256:HEX"
                ))
            }
            _ => s,
        };
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 64 {
            return Err(format!(
                "a SHA-256 fingerprint has 64 hex digits, this has {}; write sha256:HEX",
                digits.len()
            ));
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            out[i] = u8::from_str_radix(text, 16)
                .map_err(|_| format!("{text:?} is not hex; write sha256:HEX"))?;
        }
        Ok(Fingerprint(out))
    }
}

/// A moment as X.509 writes it, kept in its calendar form for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CertTime {
    pub fn from_unix(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Days since 1970-01-01 to a civil date (proleptic Gregorian).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
        CertTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
    fn parse(tag: u8, text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
        let num = |s: &str| s.parse::<u32>().ok();
        let (year, rest) = match tag {
            0x17 if text.len() == 12 => {
                let yy = num(&text[..2])?;
                // RFC 5280: UTCTime years 50-99 are 19xx.
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
            }
            0x18 if text.len() == 14 => (num(&text[..4])?, &text[4..]),
            _ => return None,
        };
        Some(CertTime {
            year,
            month: num(&rest[0..2])?,
            day: num(&rest[2..4])?,
            hour: num(&rest[4..6])?,
            minute: num(&rest[6..8])?,
            second: num(&rest[8..10])?,
        })
    }
}

impl fmt::Display for CertTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// A name a certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertName {
    Dns(String),
    Ip(IpAddr),
}

impl fmt::Display for CertName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertName::Dns(n) => f.write_str(n),
            CertName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl CertName {
    /// RFC 6125 matching as webpki does it: exact (case-insensitive), or a
    /// `*.` wildcard standing for exactly one leftmost label.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        match self {
            CertName::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            CertName::Dns(name) => {
                if host.parse::<IpAddr>().is_ok() {
                    return false;
                }
                let name = name.trim_end_matches('.');
                if let Some(suffix) = name.strip_prefix("*.") {
                    match host.split_once('.') {
                        Some((label, rest)) => {
                            !label.is_empty() && rest.eq_ignore_ascii_case(suffix)
                        }
                        None => false,
                    }
                } else {
                    name.eq_ignore_ascii_case(host)
                }
            }
        }
    }
}

/// What the diagnosis needs from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// Issuer and subject are the same name: nobody vouches for it but itself.
    pub self_issued: bool,
    pub not_before: CertTime,
    pub not_after: CertTime,
    /// Subject alternative names (DNS names and IP addresses).
    pub names: Vec<CertName>,
}

impl CertInfo {
    /// Reads an X.509 certificate's DER; `None` if it is not one we can read.
    pub fn parse(der: &[u8]) -> Option<CertInfo> {
        let (cert, _) = Der::new(der).read(0x30)?;
        let (tbs, _) = Der::new(cert).read(0x30)?;
        let mut tbs = Der::new(tbs);
        if tbs.peek() == Some(0xa0) {
            tbs.any()?; // version
        }
        tbs.read(0x02)?; // serial number
        tbs.read(0x30)?; // signature algorithm
        let (issuer, issuer_raw) = tbs.read(0x30)?;
        let (validity, _) = tbs.read(0x30)?;
        let (subject, subject_raw) = tbs.read(0x30)?;
        tbs.read(0x30)?; // subject public key info
        let mut names = Vec::new();
        while let Some((tag, body)) = tbs.any() {
            if tag == 0xa3 {
                names = alt_names(body).unwrap_or_default();
            }
        }
        let mut validity = Der::new(validity);
        let (t1, v1) = validity.any()?;
        let (t2, v2) = validity.any()?;
        Some(CertInfo {
            subject: display_name(subject),
            issuer: display_name(issuer),
            self_issued: issuer_raw == subject_raw,
            not_before: CertTime::parse(t1, v1)?,
            not_after: CertTime::parse(t2, v2)?,
            names,
        })
    }

    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|n| n.covers(host))
    }

    /// The names joined for display, or a note that there are none.
    pub fn names_list(&self) -> String {
        if self.names.is_empty() {
            return "no names at all (no subjectAltName)".into();
        }
        self.names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The subjectAltName extension's DNS names and IP addresses.
fn alt_names(extensions: &[u8]) -> Option<Vec<CertName>> {
    const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17
    let (list, _) = Der::new(extensions).read(0x30)?;
    let mut list = Der::new(list);
    while let Some((_, ext)) = list.any() {
        let mut ext = Der::new(ext);
        let (oid, _) = ext.read(0x06)?;
        if oid != SAN_OID {
            continue;
        }
        if ext.peek() == Some(0x01) {
            ext.any()?; // critical
        }
        let (value, _) = ext.read(0x04)?;
        let (general_names, _) = Der::new(value).read(0x30)?;
        let mut general_names = Der::new(general_names);
        let mut names = Vec::new();
        while let Some((tag, body)) = general_names.any() {
            match tag {
                0x82 => names.push(CertName::Dns(String::from_utf8_lossy(body).into_owned())),
                0x87 => match body.len() {
                    4 => names.push(CertName::Ip(IpAddr::from(<[u8; 4]>::try_from(body).ok()?))),
                    16 => names.push(CertName::Ip(IpAddr::from(<[u8; 16]>::try_from(body).ok()?))),
                    _ => {}
                },
                _ => {}
            }
        }
        return Some(names);
    }
    Some(Vec::new())
}

/// `CN=..., O=...` from a Name, the attributes people recognise.
fn display_name(name: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rdns = Der::new(name);
    while let Some((_, set)) = rdns.any() {
        let mut set = Der::new(set);
        while let Some((_, attr)) = set.any() {
            let mut attr = Der::new(attr);
            let (Some((oid, _)), Some((_, value))) = (attr.read(0x06), attr.any()) else {
                continue;
            };
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                _ => continue,
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        }
    }
    if parts.is_empty() {
        "(no name)".into()
    } else {
        parts.join(", ")
    }
}

/// A cursor over DER TLVs (low tag numbers only; enough for X.509).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn new(b: &'a [u8]) -> Self {
        Der(b)
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The next element: (tag, contents). Also advances past it.
    fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (tag, body, _) = self.next_raw()?;
        Some((tag, body))
    }

    /// The next element if it has `tag`: (contents, whole encoding).
    fn read(&mut self, tag: u8) -> Option<(&'a [u8], &'a [u8])> {
        if self.peek()? != tag {
            return None;
        }
        let (_, body, raw) = self.next_raw()?;
        Some((body, raw))
    }

    fn next_raw(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let b = self.0;
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, header) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        let body = b.get(header..end)?;
        let raw = &b[..end];
        self.0 = &b[end..];
        Some((tag, body, raw))
    }
}

/// Why verification refused the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    Expired,
    NotYetValid,
    /// Issued by itself and not among the trusted CAs.
    SelfSigned,
    UnknownIssuer,
    /// A trusted CA has the issuer's name, but did not sign this certificate
    /// (e.g. a CA re-created with the same name, or a forgery).
    BadSignature,
    /// The certificate does not cover the name mailport connected to.
    WrongName,
    /// A fingerprint was pinned and the server presented another certificate.
    PinMismatch {
        pinned: Fingerprint,
    },
    /// Anything else the verifier said (bad signature, revoked, wrong purpose...).
    Other(String),
}

/// A refused certificate and everything a user needs to decide what to do.
#[derive(Debug, Clone)]
pub struct CertDiagnosis {
    pub problem: CertProblem,
    /// The name mailport connected to (and checked the certificate against).
    pub server_name: String,
    pub fingerprint: Fingerprint,
    /// `None` when the certificate could not be read.
    pub cert: Option<CertInfo>,
    /// This computer's clock at verification.
    pub now: CertTime,
}

impl CertDiagnosis {
    /// Explains `error` (from the webpki verifier) about `der` presented for `server_name`.
    pub fn new(error: &rustls::Error, der: &[u8], server_name: &str, now_unix: u64) -> Self {
        use rustls::CertificateError as E;
        let cert = CertInfo::parse(der);
        let problem = match error {
            rustls::Error::InvalidCertificate(e) => match e {
                E::Expired | E::ExpiredContext { .. } => CertProblem::Expired,
                E::NotValidYet | E::NotValidYetContext { .. } => CertProblem::NotYetValid,
                // A self-signed certificate whose name a trusted CA also has
                // (Debian's snakeoil certificate is CN=localhost, like many
                // servers' own), or that is marked CA:TRUE (webpki: "CA used
                // as end entity"), is still just self-signed.
                E::UnknownIssuer | E::BadSignature | E::Other(_)
                    if cert.as_ref().is_some_and(|c| c.self_issued) =>
                {
                    CertProblem::SelfSigned
                }
                E::UnknownIssuer => CertProblem::UnknownIssuer,
                E::BadSignature => CertProblem::BadSignature,
                E::NotValidForName | E::NotValidForNameContext { .. } => CertProblem::WrongName,
                other => CertProblem::Other(certificate_error_words(other)),
            },
            other => CertProblem::Other(error_words(other)),
        };
        CertDiagnosis {
            problem,
            server_name: server_name.to_string(),
            fingerprint: Fingerprint::of(der),
            cert,
            now: CertTime::from_unix(now_unix),
        }
    }

    pub fn pin_mismatch(pinned: Fingerprint, der: &[u8], server_name: &str, now_unix: u64) -> Self {
        CertDiagnosis::of(
            CertProblem::PinMismatch { pinned },
            der,
            server_name,
            now_unix,
        )
    }

    /// `problem` of the certificate `der` presented for `server_name`.
    pub fn of(problem: CertProblem, der: &[u8], server_name: &str, now_unix: u64) -> Self {
        CertDiagnosis {
            problem,
            server_name: server_name.to_string(),
            fingerprint: Fingerprint::of(der),
            cert: CertInfo::parse(der),
            now: CertTime::from_unix(now_unix),
        }
    }

    /// One line: what is wrong, worded to follow "cannot verify the identity of HOST:".
    pub fn headline(&self) -> String {
        let name = &self.server_name;
        let c = self.cert.as_ref();
        match &self.problem {
            CertProblem::Expired => match c {
                Some(c) => format!(
                    "its certificate has expired: valid from {} to {} (now {})",
                    c.not_before, c.not_after, self.now
                ),
                None => format!("its certificate has expired (now {})", self.now),
            },
            CertProblem::NotYetValid => match c {
                Some(c) => format!(
                    "its certificate is not valid yet: valid from {} to {}, but this computer's clock says {}",
                    c.not_before, c.not_after, self.now
                ),
                None => format!(
                    "its certificate is not valid yet (this computer's clock says {})",
                    self.now
                ),
            },
            CertProblem::SelfSigned => format!(
                "its certificate is self-signed{}: no trusted CA vouches for it",
                c.map(|c| format!(" ({})", c.subject)).unwrap_or_default()
            ),
            CertProblem::UnknownIssuer => format!(
                "its certificate is issued by an unknown CA{}",
                c.map(|c| format!(" ({})", c.issuer)).unwrap_or_default()
            ),
            CertProblem::BadSignature => format!(
                "its certificate names a trusted CA as its issuer{}, but that CA did not sign it (a different CA with the same name?)",
                c.map(|c| format!(" ({})", c.issuer)).unwrap_or_default()
            ),
            CertProblem::WrongName => match c {
                Some(c) => format!(
                    "its certificate is not valid for the name {name}; it is valid for: {}",
                    c.names_list()
                ),
                None => format!("its certificate is not valid for the name {name}"),
            },
            CertProblem::PinMismatch { pinned } => format!(
                "its certificate is not the pinned one: pinned {pinned}, server presented {}",
                self.fingerprint
            ),
            CertProblem::Other(reason) => {
                format!("its certificate was refused: {reason}")
            }
        }
    }

    /// Further problems of the same certificate, so fixing the first does
    /// not merely reveal the next.
    pub fn also(&self) -> Vec<String> {
        let Some(c) = &self.cert else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.problem != CertProblem::WrongName && !c.covers(&self.server_name) {
            out.push(format!(
                "it is not valid for the name {} either; it is valid for: {}",
                self.server_name,
                c.names_list()
            ));
        }
        let dated = matches!(
            self.problem,
            CertProblem::Expired | CertProblem::NotYetValid
        );
        if !dated && self.now > c.not_after {
            out.push(format!("it has also expired (on {})", c.not_after));
        }
        if !dated && self.now < c.not_before {
            out.push(format!("it is also not valid yet (from {})", c.not_before));
        }
        out
    }
}

impl fmt::Display for CertDiagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        for line in self.also() {
            write!(f, "\n  also: {line}")?;
        }
        if let Some(c) = &self.cert {
            write!(
                f,
                "\n  certificate: subject {}; issuer {}; valid {} to {}; names: {}",
                c.subject,
                c.issuer,
                c.not_before,
                c.not_after,
                c.names_list()
            )?;
        }
        write!(f, "\n  fingerprint: {}", self.fingerprint)
    }
}

impl std::error::Error for CertDiagnosis {}

/// A certificate error in words: rustls and webpki name theirs in CamelCase
/// (`CaUsedAsEndEntity`), which no user should have to read.
pub fn certificate_error_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match e {
        E::BadEncoding => "the certificate is not valid DER (corrupt or not a certificate)".into(),
        E::Revoked => "the certificate has been revoked by its issuer".into(),
        E::UnhandledCriticalExtension => {
            "the certificate has a critical extension this client does not understand".into()
        }
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
            "the certificate is not meant for a server (its extended key usage does not allow TLS server authentication)".into()
        }
        E::ApplicationVerificationFailure => "the certificate was refused by a local check".into(),
        E::UnknownRevocationStatus => "the certificate's revocation status is unknown".into(),
        E::ExpiredRevocationList | E::ExpiredRevocationListContext { .. } => {
            "the certificate revocation list has expired".into()
        }
        E::Other(other) => webpki_words(&other.0.to_string()),
        other => webpki_words(&format!("{other:?}")),
    }
}

/// Any rustls error in words (alerts and protocol complaints included).
pub fn error_words(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => certificate_error_words(c),
        rustls::Error::AlertReceived(a) => format!(
            "the server ended the handshake with the alert \"{}\"",
            camel_words(&format!("{a:?}"))
        ),
        rustls::Error::PeerIncompatible(p) => format!(
            "the server and mailport have no TLS version or cipher in common ({})",
            camel_words(&format!("{p:?}"))
        ),
        rustls::Error::PeerMisbehaved(p) => format!(
            "the server broke the TLS protocol ({})",
            camel_words(&format!("{p:?}"))
        ),
        rustls::Error::General(text) => text.clone(),
        other => camel_words(&other.to_string()),
    }
}

/// webpki's error names, the common ones explained.
fn webpki_words(name: &str) -> String {
    let name = name.trim();
    match name {
        "CaUsedAsEndEntity" => "the server presented a CA certificate (CA:TRUE) as its own; if it is the server's own self-signed certificate, give that file as --from-tls-ca/--to-tls-ca or pin it".into(),
        "EndEntityUsedAsCa" => "a server certificate was used to sign another certificate".into(),
        "UnsupportedSignatureAlgorithm" | "UnsupportedSignatureAlgorithmForPublicKey" => {
            "the certificate is signed with an algorithm this client does not accept (e.g. SHA-1 or MD5)".into()
        }
        "PathLenConstraintViolated" => "the certificate chain is longer than its CA allows".into(),
        "MaximumPathDepthExceeded" | "MaximumPathBuildCallsExceeded" => {
            "the certificate chain is too long to check".into()
        }
        "NameConstraintViolation" => "the certificate's names are outside what its CA may issue".into(),
        "RequiredEkuNotFound" => "the certificate is not meant for a server (no TLS server usage)".into(),
        "InvalidSignatureForPublicKey" => "the certificate's signature does not verify".into(),
        _ => camel_words(name),
    }
}

/// `CaUsedAsEndEntity` -> `ca used as end entity`; Debug punctuation dropped.
pub fn camel_words(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in s.chars() {
        if ch.is_ascii_uppercase() {
            if prev_lower {
                out.push(' ');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = false;
        } else if ch.is_alphanumeric() || ch == ' ' || ch == ':' || ch == '-' || ch == '.' {
            out.push(ch);
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        } else {
            if !out.ends_with(' ') {
                out.push(' ');
            }
            prev_lower = false;
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_reads_as_words() {
        use rustls::CertificateError as E;
        let cases = [
            E::BadEncoding,
            E::Revoked,
            E::UnhandledCriticalExtension,
            E::InvalidPurpose,
            E::ApplicationVerificationFailure,
            E::UnknownRevocationStatus,
            E::ExpiredRevocationList,
            E::Other(rustls::OtherError(std::sync::Arc::new(
                std::io::Error::other("CaUsedAsEndEntity"),
            ))),
            E::Other(rustls::OtherError(std::sync::Arc::new(
                std::io::Error::other("SomeFutureWebpkiError"),
            ))),
        ];
        for e in cases {
            let words = certificate_error_words(&e);
            assert!(
                !words.contains('(') || words.contains(' '),
                "{e:?}: {words}"
            );
            assert!(
                !words
                    .chars()
                    .zip(words.chars().skip(1))
                    .any(|(a, b)| a.is_ascii_lowercase() && b.is_ascii_uppercase()),
                "CamelCase left in {words:?}"
            );
            assert!(
                !words.contains("Other") && !words.contains("Error("),
                "{words}"
            );
        }
        assert!(
            certificate_error_words(&cases_ca()).contains("CA certificate (CA:TRUE) as its own")
        );
        assert_eq!(
            camel_words("SomeFutureWebpkiError"),
            "some future webpki error"
        );
        let alert = error_words(&rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure,
        ));
        assert_eq!(
            alert,
            "the server ended the handshake with the alert \"handshake failure\""
        );
    }

    fn cases_ca() -> rustls::CertificateError {
        rustls::CertificateError::Other(rustls::OtherError(std::sync::Arc::new(
            std::io::Error::other("CaUsedAsEndEntity"),
        )))
    }

    #[test]
    fn fingerprints_round_trip_in_the_forms_people_paste() {
        let fp = Fingerprint::of(b"x");
        let text = fp.to_string();
        assert!(
            text.starts_with("sha256:") && text.len() == 7 + 64,
            "{text}"
        );
        assert_eq!(text.parse::<Fingerprint>().unwrap(), fp);
        let colons =
            fp.0.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":");
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(
            format!("SHA256:{colons}").parse::<Fingerprint>().unwrap(),
            fp
        );
        assert!("sha1:abcd"
            .parse::<Fingerprint>()
            .unwrap_err()
            .contains("sha256"));
        assert!("sha256:abcd"
            .parse::<Fingerprint>()
            .unwrap_err()
            .contains("64"));
        let bad = format!("sha256:{}", "zz".repeat(32));
        assert!(bad.parse::<Fingerprint>().is_err());
    }

    #[test]
    fn unix_times_become_calendar_dates() {
        assert_eq!(
            CertTime::from_unix(0).to_string(),
            "1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            CertTime::from_unix(951_782_400).to_string(),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            CertTime::from_unix(1_767_225_599).to_string(),
            "2025-12-31 23:59:59 UTC"
        );
        assert_eq!(CertTime::parse(0x17, b"491231235959Z").unwrap().year, 2049);
        assert_eq!(CertTime::parse(0x17, b"500101000000Z").unwrap().year, 1950);
        assert_eq!(
            CertTime::parse(0x18, b"20991231235959Z")
                .unwrap()
                .to_string(),
            "2099-12-31 23:59:59 UTC"
        );
        assert!(CertTime::parse(0x17, b"garbage").is_none());
    }

    #[test]
    fn names_match_like_webpki() {
        let wild = CertName::Dns("*.example.org".into());
        assert!(wild.covers("mail.example.org"));
        assert!(wild.covers("MAIL.Example.org."));
        assert!(!wild.covers("example.org"));
        assert!(!wild.covers("a.b.example.org"));
        let exact = CertName::Dns("mail.example.org".into());
        assert!(exact.covers("Mail.Example.Org"));
        assert!(!exact.covers("imap.example.org"));
        let ip = CertName::Ip("127.0.0.1".parse().unwrap());
        assert!(ip.covers("127.0.0.1"));
        assert!(!ip.covers("localhost"));
        assert!(!CertName::Dns("127.0.0.1".into()).covers("127.0.0.1"));
    }

    #[test]
    fn reads_what_rcgen_writes() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![
            "mail.example.org".to_string(),
            "*.example.net".to_string(),
            "192.0.2.7".to_string(),
            "2001:db8::1".to_string(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "mail.example.org");
        params.not_before = rcgen::date_time_ymd(2020, 2, 29);
        params.not_after = rcgen::date_time_ymd(2051, 1, 1);
        let cert = params.self_signed(&key).unwrap();
        let info = CertInfo::parse(cert.der()).unwrap();
        assert_eq!(info.subject, "CN=mail.example.org");
        assert!(info.self_issued);
        assert_eq!(info.not_before.to_string(), "2020-02-29 00:00:00 UTC");
        // After 2049, X.509 switches to GeneralizedTime.
        assert_eq!(info.not_after.to_string(), "2051-01-01 00:00:00 UTC");
        assert_eq!(
            info.names_list(),
            "mail.example.org, *.example.net, 192.0.2.7, 2001:db8::1"
        );
        assert!(info.covers("imap.example.net"));
        assert!(info.covers("2001:db8:0::1"));
        assert!(!info.covers("example.org"));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(CertInfo::parse(b"").is_none());
        assert!(CertInfo::parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(CertInfo::parse(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
