//! Mailbox-level commands built on [`Client::command`]: NAMESPACE, LIST,
//! LSUB, SELECT/EXAMINE, CREATE, SUBSCRIBE and metadata FETCH.

use mailport_mail::MessageMeta;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::{quote, Client};
use crate::error::Error;
use crate::parse::{Untagged, Value};

/// One LIST/LSUB entry. The name is as on the wire (modified UTF-7 unless
/// UTF8=ACCEPT is enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub name: Vec<u8>,
    pub delimiter: Option<u8>,
    pub attributes: Vec<String>,
}

impl ListEntry {
    pub fn has_attribute(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }
}

/// The personal namespace (RFC 2342): prefix and delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub prefix: Vec<u8>,
    pub delimiter: Option<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    pub exists: u32,
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    /// PERMANENTFLAGS; contains `\*` when new keywords may be created.
    pub permanent_flags: Vec<String>,
    /// HIGHESTMODSEQ (RFC 7162), when the server has CONDSTORE and it was asked for.
    pub highest_modseq: Option<u64>,
}

/// All three groups of a NAMESPACE answer (RFC 2342).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub personal: Vec<Namespace>,
    pub other_users: Vec<Namespace>,
    pub shared: Vec<Namespace>,
}

impl Namespaces {
    fn from_groups(groups: [Vec<(Vec<u8>, Option<u8>)>; 3]) -> Namespaces {
        let [personal, other_users, shared] = groups.map(|g| {
            g.into_iter()
                .map(|(prefix, delimiter)| Namespace { prefix, delimiter })
                .collect()
        });
        Namespaces {
            personal,
            other_users,
            shared,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// NAMESPACE (RFC 2342), or None when the server lacks it.
    pub async fn namespaces(&mut self) -> Result<Option<Namespaces>, Error> {
        if !self.has_capability("NAMESPACE") {
            return Ok(None);
        }
        let done = self.command(b"NAMESPACE").await?;
        Ok(done.untagged.into_iter().find_map(|u| match u {
            Untagged::Namespace(groups) => Some(Namespaces::from_groups(groups)),
            _ => None,
        }))
    }

    /// The first personal namespace, or None when the server lacks NAMESPACE.
    pub async fn personal_namespace(&mut self) -> Result<Option<Namespace>, Error> {
        Ok(self
            .namespaces()
            .await?
            .and_then(|n| n.personal.into_iter().next()))
    }

    /// `LIST "" "*"`, with SPECIAL-USE attributes (RFC 6154) when offered.
    pub async fn list_all(&mut self) -> Result<Vec<ListEntry>, Error> {
        let cmd: &[u8] =
            if self.has_capability("SPECIAL-USE") && self.has_capability("LIST-EXTENDED") {
                b"LIST \"\" \"*\" RETURN (SPECIAL-USE)"
            } else {
                b"LIST \"\" \"*\""
            };
        self.list_command(cmd).await
    }

    /// `LSUB "" "*"`: the subscribed names.
    pub async fn lsub_all(&mut self) -> Result<Vec<ListEntry>, Error> {
        self.list_command(b"LSUB \"\" \"*\"").await
    }

    async fn list_command(&mut self, cmd: &[u8]) -> Result<Vec<ListEntry>, Error> {
        let done = self.command(cmd).await?;
        Ok(done
            .untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List {
                    attributes,
                    delimiter,
                    name,
                    ..
                } => Some(ListEntry {
                    name,
                    delimiter,
                    attributes,
                }),
                _ => None,
            })
            .collect())
    }

    /// SELECT (or EXAMINE when `read_only`).
    pub async fn select(
        &mut self,
        mailbox: &[u8],
        read_only: bool,
    ) -> Result<MailboxStatus, Error> {
        self.select_with(mailbox, read_only, false).await
    }

    /// EXAMINE with CONDSTORE (RFC 7162), reporting HIGHESTMODSEQ; plain
    /// EXAMINE when the server lacks CONDSTORE.
    pub async fn examine_condstore(&mut self, mailbox: &[u8]) -> Result<MailboxStatus, Error> {
        let condstore = self.has_capability("CONDSTORE");
        self.select_with(mailbox, true, condstore).await
    }

    async fn select_with(
        &mut self,
        mailbox: &[u8],
        read_only: bool,
        condstore: bool,
    ) -> Result<MailboxStatus, Error> {
        let mut cmd = if read_only {
            b"EXAMINE ".to_vec()
        } else {
            b"SELECT ".to_vec()
        };
        cmd.extend(quote(mailbox)?);
        if condstore {
            cmd.extend_from_slice(b" (CONDSTORE)");
        }
        let done = self.command(&cmd).await?;
        let mut st = MailboxStatus::default();
        for u in &done.untagged {
            match u {
                Untagged::Exists(n) => st.exists = *n,
                Untagged::Status { text, .. } => match text.code.as_deref() {
                    Some("UIDVALIDITY") => {
                        st.uidvalidity = text.code_args.first().and_then(Value::as_u32).unwrap_or(0)
                    }
                    Some("UIDNEXT") => st.uidnext = text.code_args.first().and_then(Value::as_u32),
                    Some("HIGHESTMODSEQ") => {
                        st.highest_modseq = text.code_args.first().and_then(Value::as_u64)
                    }
                    Some("PERMANENTFLAGS") => {
                        if let Some(Value::List(l)) = text.code_args.first() {
                            st.permanent_flags = l
                                .iter()
                                .filter_map(Value::as_bytes)
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                                .collect();
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        Ok(st)
    }

    pub async fn create(&mut self, mailbox: &[u8]) -> Result<(), Error> {
        let mut cmd = b"CREATE ".to_vec();
        cmd.extend(quote(mailbox)?);
        self.command(&cmd).await.map(|_| ())
    }

    pub async fn subscribe(&mut self, mailbox: &[u8]) -> Result<(), Error> {
        let mut cmd = b"SUBSCRIBE ".to_vec();
        cmd.extend(quote(mailbox)?);
        self.command(&cmd).await.map(|_| ())
    }

    /// `NOOP`: keeps an idle session alive (RFC 3501 6.1.2).
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.command(b"NOOP").await.map(|_| ())
    }

    /// `ID (field value ...)` (RFC 2971): a proxy tells the server about
    /// its client (Dovecot reads `x-originating-ip` and `x-originating-port`
    /// from proxies in its `login_trusted_networks`). The server's own ID
    /// is not kept.
    pub async fn id(&mut self, fields: &[(&str, &str)]) -> Result<(), Error> {
        let mut cmd = b"ID (".to_vec();
        for (i, (field, value)) in fields.iter().enumerate() {
            if i > 0 {
                cmd.push(b' ');
            }
            cmd.extend_from_slice(&crate::client::quote(field.as_bytes())?);
            cmd.push(b' ');
            cmd.extend_from_slice(&crate::client::quote(value.as_bytes())?);
        }
        cmd.push(b')');
        self.command(&cmd).await.map(|_| ())
    }

    /// `STARTTLS` (RFC 3501 6.2.1): the caller then wraps the stream in TLS.
    pub async fn starttls(&mut self) -> Result<(), Error> {
        self.command(b"STARTTLS").await.map(|_| ())
    }

    /// `UID STORE <set> +FLAGS.SILENT (...)` (adding) or `-FLAGS.SILENT`,
    /// in commands of at most 1,000 UIDs: scattered UIDs make long sets, and
    /// servers cap command lines (Dovecot at 64 KiB).
    pub async fn uid_store_flags(
        &mut self,
        uids: &[u32],
        adding: bool,
        flags: &[String],
    ) -> Result<(), Error> {
        let op = if adding { '+' } else { '-' };
        for part in uids.chunks(1000) {
            let set = crate::uidset::compress(part);
            let cmd = format!("UID STORE {set} {op}FLAGS.SILENT ({})", flags.join(" "));
            self.command(cmd.as_bytes()).await?;
        }
        Ok(())
    }

    /// Removes exactly these messages of the selected mailbox: flags them
    /// `\Deleted`, then `UID EXPUNGE` (UIDPLUS, RFC 4315), which leaves
    /// messages others flagged `\Deleted` alone.
    pub async fn uid_expunge(&mut self, uids: &[u32]) -> Result<(), Error> {
        let deleted = ["\\Deleted".to_string()];
        self.uid_store_flags(uids, true, &deleted).await?;
        for part in uids.chunks(1000) {
            let set = crate::uidset::compress(part);
            self.command(format!("UID EXPUNGE {set}").as_bytes())
                .await?;
        }
        Ok(())
    }

    /// `UID FETCH <set> (UID FLAGS INTERNALDATE RFC822.SIZE [BODY.PEEK[HEADER.FIELDS (...)]])`
    /// on the selected mailbox. Messages lacking UID, date or size are an error:
    /// without them a copy cannot be faithful.
    pub async fn fetch_meta(
        &mut self,
        uid_set: &str,
        header_fields: &[&str],
    ) -> Result<Vec<MessageMeta>, Error> {
        let mut cmd = format!("UID FETCH {uid_set} (UID FLAGS INTERNALDATE RFC822.SIZE");
        let section = if header_fields.is_empty() {
            None
        } else {
            let s =
                format!("BODY[HEADER.FIELDS ({})]", header_fields.join(" ")).to_ascii_uppercase();
            cmd.push_str(&format!(
                " BODY.PEEK[HEADER.FIELDS ({})]",
                header_fields.join(" ")
            ));
            Some(s)
        };
        cmd.push(')');
        let done = self.command(cmd.as_bytes()).await?;
        let mut out = Vec::new();
        for u in done.untagged {
            let Untagged::Fetch { seq, items } = u else {
                continue;
            };
            let get = |k: &str| items.iter().find(|(n, _)| n == k).map(|(_, v)| v);
            // Unsolicited FETCH (flag updates) carries no UID+date+size: skip it.
            let (Some(uid), Some(date), Some(size)) =
                (get("UID"), get("INTERNALDATE"), get("RFC822.SIZE"))
            else {
                continue;
            };
            let uid = uid
                .as_u32()
                .ok_or_else(|| Error::Malformed(format!("bad UID in FETCH {seq}")))?;
            let internal_date = date
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .ok_or_else(|| Error::Malformed(format!("bad INTERNALDATE for UID {uid}")))?;
            let size = size
                .as_u64()
                .ok_or_else(|| Error::Malformed(format!("bad RFC822.SIZE for UID {uid}")))?;
            let flags = match get("FLAGS") {
                Some(Value::List(l)) => l
                    .iter()
                    .filter_map(Value::as_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect(),
                _ => Vec::new(),
            };
            let headers = section.as_ref().map(|s| {
                items
                    .iter()
                    .find(|(n, _)| n.starts_with("BODY[HEADER.FIELDS") || n == s)
                    .and_then(|(_, v)| v.as_bytes().map(<[u8]>::to_vec))
                    .unwrap_or_default()
            });
            out.push(MessageMeta {
                seq,
                uid,
                flags,
                internal_date,
                size,
                headers,
            });
        }
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_response, Response};

    #[test]
    fn namespaces_keep_all_three_groups() {
        // Cyrus 3.6 with altnamespace: an empty personal prefix, so only the
        // other groups tell shared folders from the user's own.
        let r = parse_response(
            b"* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))\r\n",
        )
        .unwrap();
        let Response::Untagged(Untagged::Namespace(groups)) = r else {
            panic!("{r:?}")
        };
        let ns = Namespaces::from_groups(groups);
        assert_eq!(
            ns.personal,
            vec![Namespace {
                prefix: b"".to_vec(),
                delimiter: Some(b'/')
            }]
        );
        assert_eq!(ns.other_users[0].prefix, b"Other Users/".to_vec());
        assert_eq!(ns.shared[0].prefix, b"Shared Folders/".to_vec());
    }
}
