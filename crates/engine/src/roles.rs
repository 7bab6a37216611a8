//! Special folders by role: RFC 6154 SPECIAL-USE attributes, falling back to
//! the names mail clients and servers use in common languages.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Sent,
        Role::Drafts,
        Role::Trash,
        Role::Junk,
        Role::Archive,
    ];

    pub fn from_attribute(attr: &str) -> Option<Role> {
        match attr.to_ascii_lowercase().as_str() {
            "\\sent" => Some(Role::Sent),
            "\\drafts" => Some(Role::Drafts),
            "\\trash" => Some(Role::Trash),
            "\\junk" => Some(Role::Junk),
            "\\archive" => Some(Role::Archive),
            _ => None,
        }
    }

    /// Role of a top-level folder by its name, compared case-insensitively.
    pub fn from_name(name: &str) -> Option<Role> {
        let lower = name.to_lowercase();
        Role::ALL
            .into_iter()
            .find(|r| r.names().contains(&lower.as_str()))
    }

    /// Well-known names, lower case, most common first.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Role::Sent => &[
                "sent",
                "sent items",
                "sent messages",
                "sent mail",
                "gesendet",
                "gesendete objekte",
                "gesendete elemente",
                "envoyés",
                "éléments envoyés",
                "messages envoyés",
                "enviados",
                "elementos enviados",
                "inviati",
                "posta inviata",
                "verzonden",
                "verzonden items",
                "skickat",
                "wysłane",
                "отправленные",
                "送信済み",
                "已发送",
            ],
            Role::Drafts => &[
                "drafts",
                "draft",
                "entwürfe",
                "brouillons",
                "borradores",
                "bozze",
                "concepten",
                "utkast",
                "kopie robocze",
                "черновики",
                "下書き",
                "草稿",
            ],
            Role::Trash => &[
                "trash",
                "deleted items",
                "deleted messages",
                "bin",
                "papierkorb",
                "gelöschte objekte",
                "gelöschte elemente",
                "corbeille",
                "éléments supprimés",
                "papelera",
                "elementos eliminados",
                "cestino",
                "prullenbak",
                "verwijderde items",
                "papperskorgen",
                "kosz",
                "корзина",
                "ゴミ箱",
                "已删除",
            ],
            Role::Junk => &[
                "junk",
                "junk e-mail",
                "junk email",
                "spam",
                "bulk mail",
                "junk-e-mail",
                "spam-verdacht",
                "courrier indésirable",
                "indésirables",
                "correo no deseado",
                "posta indesiderata",
                "ongewenste e-mail",
                "skräppost",
                "спам",
            ],
            Role::Archive => &[
                "archive",
                "archives",
                "archiv",
                "archivo",
                "archivio",
                "archief",
                "arkiv",
                "archiwum",
                "архив",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_many_languages() {
        assert_eq!(Role::from_name("Gesendete Objekte"), Some(Role::Sent));
        assert_eq!(Role::from_name("Sent Items"), Some(Role::Sent));
        assert_eq!(Role::from_name("ENVOYÉS"), Some(Role::Sent));
        assert_eq!(Role::from_name("Entwürfe"), Some(Role::Drafts));
        assert_eq!(Role::from_name("Deleted Items"), Some(Role::Trash));
        assert_eq!(Role::from_name("Junk E-mail"), Some(Role::Junk));
        assert_eq!(Role::from_name("Work"), None);
        assert_eq!(Role::from_attribute("\\Sent"), Some(Role::Sent));
        assert_eq!(Role::from_attribute("\\HasChildren"), None);
    }
}
