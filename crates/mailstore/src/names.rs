//! Folder names on disk. Dovecot writes each level of a name in modified UTF-7
//! (the IMAP wire form); other tools write UTF-8. Reading accepts both.

use mailport_mail::utf7;

/// One level of a name as found on disk.
pub fn decode(component: &[u8]) -> String {
    match utf7::decode(component) {
        Ok(s) => s,
        Err(_) => String::from_utf8_lossy(component).into_owned(),
    }
}

/// One level of a logical name as Dovecot would write it, or why it cannot be.
pub fn encode(component: &str, separator: Option<char>) -> Result<String, &'static str> {
    if component.is_empty() {
        return Err("empty level");
    }
    let e = utf7::encode(component);
    if e == "." || e == ".." {
        return Err("'.' and '..' are not folder names");
    }
    if e.contains('\0') {
        return Err("contains NUL");
    }
    if let Some(sep) = separator {
        if e.contains(sep) {
            return Err("contains the layout's hierarchy separator");
        }
    }
    Ok(e)
}
