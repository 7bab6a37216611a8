//! Local mail stores: Maildir (read and write; Maildir++ and Dovecot's
//! `LAYOUT=fs`) and mbox (read; mboxo and mboxrd).
//!
//! Everything a reader hands out is what an IMAP server would serve: message
//! bytes with CRLF line ends (Dovecot stores LF and serves CRLF), flags as IMAP
//! flag strings, INTERNALDATE as Unix seconds, folder names in Unicode with
//! `/` between levels and `INBOX` for the root. See docs/local-stores.md.
//!
//! No protocol client is needed for that: modified UTF-7 (Dovecot's folder
//! names on disk) and date arithmetic come from `mailport_mail`.

mod crlf;
pub mod flags;
pub mod maildir;
pub mod mbox;
mod names;

use std::path::{Path, PathBuf};

pub use crlf::MessageStream;
pub use maildir::{Delivery, Folder, Layout, Maildir, Message};
pub use mbox::{Mbox, MboxFolder, MboxMessage, Variant};

/// The pure parsers behind the readers, for the fuzz targets in `fuzz/` and
/// property tests. Not a stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::crlf::to_crlf;
    pub use crate::maildir::{
        assign_keyword_letters, format_keywords, info_string, parse_file_name, parse_keywords,
        system_letters, FileName,
    };
    pub use crate::mbox::{from_line_date, mboxrd_escape};
    pub use crate::names::{decode as decode_folder_level, encode as encode_folder_level};
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: not a maildir (needs cur/, new/ and tmp/ directories)", path.display())]
    NotMaildir { path: PathBuf },
    #[error("{}: not an mbox file (does not start with a \"From \" line)", path.display())]
    NotMbox { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("folder {0:?} does not exist")]
    NoFolder(String),
    #[error("folder name {name:?} cannot be stored: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("flag {0:?} cannot be stored in a Maildir file name")]
    BadFlag(String),
    #[error("message {key} not found in folder {folder:?}")]
    NoMessage { folder: String, key: String },
    #[error(
        "folder {folder:?}: more than 26 keywords; Maildir's dovecot-keywords has only the letters a-z"
    )]
    TooManyKeywords { folder: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs blocking file-system work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
