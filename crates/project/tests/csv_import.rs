//! The mailbox-list formats admins bring, as files they would write.

use mailport_project::csv_import::{parse, BadRow, Credential, Format, ImportError, Parsed};
use proptest::prelude::*;
use zeroize::Zeroizing;

fn password(p: &str) -> Credential {
    Credential::Password(Zeroizing::new(p.to_owned()))
}

fn ok(text: &str) -> Parsed {
    parse(text.as_bytes(), None).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &[u8], format: Option<Format>) -> ImportError {
    match parse(text, format) {
        Ok(parsed) => panic!("parsed: {parsed:?}"),
        Err(e) => e,
    }
}

fn bad(line: usize, reason: &str) -> BadRow {
    BadRow {
        line,
        reason: reason.to_owned(),
    }
}

#[test]
fn mailport_format() {
    let parsed = ok("\
source_login,source_password,destination_login,destination_password,folders,destination_prefix
alice@old.example,secret,alice@new.example,other,^INBOX,Old/
bob,-,,,,
carol,,,-,,
");
    assert_eq!(parsed.format, Format::Mailport);
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let [alice, bob, carol] = &parsed.rows[..] else {
        panic!("{:?}", parsed.rows)
    };
    assert_eq!(alice.line, 2);
    assert_eq!(alice.source_login, "alice@old.example");
    assert_eq!(alice.source_credential, password("secret"));
    assert_eq!(
        alice.destination_login.as_deref(),
        Some("alice@new.example")
    );
    assert_eq!(alice.destination_credential, password("other"));
    assert_eq!(alice.folders.as_deref(), Some("^INBOX"));
    assert_eq!(alice.destination_prefix.as_deref(), Some("Old/"));
    assert_eq!(
        (
            alice.source_host.as_deref(),
            alice.destination_host.as_deref()
        ),
        (None, None)
    );
    assert_eq!(bob.line, 3);
    assert_eq!(bob.source_credential, Credential::Admin);
    assert_eq!(bob.destination_login, None);
    assert_eq!(bob.destination_credential, Credential::AskUser);
    assert_eq!(
        (bob.folders.as_deref(), bob.destination_prefix.as_deref()),
        (None, None)
    );
    assert_eq!(carol.source_credential, Credential::AskUser);
    assert_eq!(carol.destination_credential, Credential::Admin);
}

#[test]
fn mailport_columns_in_any_order_and_case_and_absent_password_columns() {
    let parsed = ok(" Destination_Login , SOURCE_LOGIN \nnew@b.example, old@a.example \n");
    let row = &parsed.rows[0];
    assert_eq!(row.source_login, "old@a.example");
    assert_eq!(row.destination_login.as_deref(), Some("new@b.example"));
    // No source_password column: ask the user; no destination_password
    // column: the project's admin login.
    assert_eq!(row.source_credential, Credential::AskUser);
    assert_eq!(row.destination_credential, Credential::Admin);
}

#[test]
fn microsoft365_format() {
    let parsed = ok("\
EmailAddress,UserName,Password
terry.adams@contoso.onmicrosoft.com,terry.adams,1091990
annb@contoso.onmicrosoft.com,ann.beebe,-
paul@contoso.onmicrosoft.com,paul.cannon,
");
    assert_eq!(parsed.format, Format::Microsoft365);
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let row = &parsed.rows[0];
    assert_eq!(row.line, 2);
    assert_eq!(row.source_login, "terry.adams");
    assert_eq!(row.source_credential, password("1091990"));
    assert_eq!(
        row.destination_login.as_deref(),
        Some("terry.adams@contoso.onmicrosoft.com")
    );
    assert_eq!(row.destination_credential, Credential::Admin);
    assert_eq!(parsed.rows[1].source_credential, Credential::Admin);
    assert_eq!(parsed.rows[2].source_credential, Credential::AskUser);
    assert!(parsed
        .rows
        .iter()
        .all(|r| r.destination_credential == Credential::Admin));
}

#[test]
fn microsoft365_header_in_any_order_and_case() {
    let parsed = ok("password, USERNAME ,emailaddress\npw,u1,u1@contoso.com\n");
    assert_eq!(parsed.format, Format::Microsoft365);
    assert_eq!(parsed.rows[0].source_login, "u1");
    assert_eq!(parsed.rows[0].source_credential, password("pw"));
}

#[test]
fn imapsync_format_with_comments_blank_lines_and_trailing_semicolon() {
    let parsed = ok("\
# mass migration, see imapsync's FAQ
# host1;user1;password1;host2;user2;password2

imap.old.example;alice;secret1;imap.new.example;alice@new.example;secret2
  # an indented comment
imap.old.example;bob;-;imap.new.example;bob;;
imap.old.example;carol;;imap.new.example;;-;
");
    assert_eq!(parsed.format, Format::Imapsync);
    assert!(parsed.bad.is_empty(), "{:?}", parsed.bad);
    let [alice, bob, carol] = &parsed.rows[..] else {
        panic!("{:?}", parsed.rows)
    };
    assert_eq!(alice.line, 4);
    assert_eq!(alice.source_host.as_deref(), Some("imap.old.example"));
    assert_eq!(alice.source_login, "alice");
    assert_eq!(alice.source_credential, password("secret1"));
    assert_eq!(alice.destination_host.as_deref(), Some("imap.new.example"));
    assert_eq!(
        alice.destination_login.as_deref(),
        Some("alice@new.example")
    );
    assert_eq!(alice.destination_credential, password("secret2"));
    assert_eq!(bob.line, 6);
    assert_eq!(bob.source_credential, Credential::Admin);
    assert_eq!(bob.destination_credential, Credential::AskUser);
    assert_eq!(carol.line, 7);
    assert_eq!(carol.source_credential, Credential::AskUser);
    assert_eq!(carol.destination_login, None);
    assert_eq!(carol.destination_credential, Credential::Admin);
}

#[test]
fn imapsync_same_login_on_two_source_hosts_is_a_duplicate() {
    // A project moves one server: the store keeps one mailbox per login,
    // and a row without a host means the project's.
    let parsed = ok("a.example;bob;p;c.example;bob1;p\n;bob;p;c.example;bob2;p\n");
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(
        parsed.bad,
        vec![bad(2, "the source login \"bob\" is already on line 1")]
    );
}

#[test]
fn cr_line_ends_of_old_mac_exports() {
    let parsed = ok("source_login,source_password\ralice,pw\r\rbob,pw2\r b c ,x\r");
    assert_eq!((parsed.rows[0].line, parsed.rows[1].line), (2, 4));
    assert_eq!(parsed.rows[1].source_credential, password("pw2"));
    assert_eq!(parsed.bad[0].line, 5);
    let parsed = ok("h1;u1;p1;h2;u2;p2\rh1;u3;p1;h2;u2;p2;\r");
    assert_eq!(parsed.rows[1].line, 2);
}

#[test]
fn detection_of_each_format() {
    assert_eq!(ok("source_login\nalice\n").format, Format::Mailport);
    assert_eq!(
        ok("EmailAddress,UserName,Password\na@b.c,a,p\n").format,
        Format::Microsoft365
    );
    assert_eq!(ok("h1;u1;p1;h2;u2;p2\n").format, Format::Imapsync);
    assert_eq!(ok("h1;u1;p1;h2;u2;p2;\n").format, Format::Imapsync);
    assert_eq!(ok("\n\n# note\nsource_login\nalice\n").rows[0].line, 5);
}

#[test]
fn explicit_format_is_used() {
    let parsed = parse(b"h1;u1;p1;h2;u2;p2\n", Some(Format::Imapsync)).unwrap();
    assert_eq!(parsed.format, Format::Imapsync);
    // A mailport header read as imapsync: every line is a bad row.
    let parsed = parse(b"source_login\nalice\n", Some(Format::Imapsync)).unwrap();
    assert!(parsed.rows.is_empty());
    assert_eq!(parsed.bad.len(), 2);
}

#[test]
fn byte_order_mark() {
    let parsed = ok("\u{feff}source_login,source_password\nalice,pw\n");
    assert_eq!(parsed.format, Format::Mailport);
    assert_eq!(parsed.rows[0].source_login, "alice");
    assert_eq!(parsed.rows[0].line, 2);
    let parsed = ok("\u{feff}EmailAddress,UserName,Password\r\na@b.c,a,p\r\n");
    assert_eq!(parsed.format, Format::Microsoft365);
    let parsed = ok("\u{feff}h1;u1;p1;h2;u2;p2\n");
    assert_eq!(parsed.rows[0].source_host.as_deref(), Some("h1"));
}

#[test]
fn crlf_line_ends() {
    let parsed = ok("source_login,source_password\r\nalice,pw\r\n\r\nbob,pw2\r\n");
    assert_eq!(parsed.rows[0].source_credential, password("pw"));
    assert_eq!(parsed.rows[1].line, 4);
    assert_eq!(parsed.rows[1].source_credential, password("pw2"));
    let parsed = ok(
        "\r\nsource_login,source_password\r\n\r\n\r\nalice,\"a\r\nb\"\r\n\r\nbob,x\r\n b c ,x\r\n",
    );
    assert_eq!((parsed.rows[0].line, parsed.rows[1].line), (5, 8));
    assert_eq!(parsed.rows[0].source_credential, password("a\r\nb"));
    assert_eq!(parsed.bad[0].line, 9);
    let parsed = ok("# c\r\nh1;u1;p1;h2;u2;p2\r\nh1;u3;p1;h2;u2;p2;\r\n");
    assert_eq!(parsed.rows[0].destination_credential, password("p2"));
    assert_eq!(parsed.rows[1].line, 3);
    assert_eq!(parsed.rows[1].destination_credential, password("p2"));
}

#[test]
fn quoted_commas_doubled_quotes_and_spaces_in_passwords() {
    let parsed = ok("\
source_login,source_password,destination_password
\"alice\",\"se,cret\",\"say \"\"hi\"\"\"
bob,\" spaced \",\"  \"
");
    assert_eq!(parsed.rows[0].source_login, "alice");
    assert_eq!(parsed.rows[0].source_credential, password("se,cret"));
    assert_eq!(
        parsed.rows[0].destination_credential,
        password("say \"hi\"")
    );
    assert_eq!(parsed.rows[1].source_credential, password(" spaced "));
    // Only spaces: an empty cell.
    assert_eq!(parsed.rows[1].destination_credential, Credential::AskUser);
}

#[test]
fn a_quoted_line_break_keeps_line_numbers_right() {
    let parsed = ok("source_login,source_password\nalice,\"two\nlines\"\nbob,pw\n bad login ,pw\n");
    assert_eq!(parsed.rows[0].line, 2);
    assert_eq!(parsed.rows[0].source_credential, password("two\nlines"));
    assert_eq!(parsed.rows[1].line, 4);
    assert_eq!(
        parsed.bad,
        [bad(
            5,
            "the source login \"bad login\" contains a space or a control character"
        )]
    );
}

#[test]
fn every_bad_row_with_its_line() {
    let parsed = ok("\
source_login,source_password,destination_login
alice@old.example,pw,alice@new.example
,pw,x@new.example
bob@,pw,
carol,pw,carol@new
dave,pw,dave@@new.example
ALICE@old.example,pw,
eve,pw,eve@new.example,extra
frank,pw,frank@new.example,,
gina\u{7},pw,
@old.example,pw,
hank,pw,hank@.example
,,,
ivan,pw,ivan@new..example
");
    assert_eq!(
        parsed.bad,
        [
            bad(3, "the source login is empty"),
            bad(4, "the source login \"bob@\" is not an address of the form local@domain"),
            bad(6, "the destination login \"dave@@new.example\" is not an address of the form local@domain"),
            bad(7, "the source login \"ALICE@old.example\" is already on line 2"),
            bad(8, "4 fields, but the header has 3"),
            bad(10, "the source login \"gina\\u{7}\" contains a space or a control character"),
            bad(11, "the source login \"@old.example\" is not an address of the form local@domain"),
            bad(12, "the destination login \"hank@.example\" is not an address of the form local@domain"),
            bad(14, "the destination login \"ivan@new..example\" is not an address of the form local@domain"),
        ]
    );
    let good: Vec<_> = parsed
        .rows
        .iter()
        .map(|r| (r.line, r.source_login.as_str()))
        .collect();
    // `carol@new` has a dot-free domain, `frank`'s extra cells are empty.
    assert_eq!(good, [(2, "alice@old.example"), (5, "carol"), (9, "frank")]);
}

#[test]
fn unnamed_columns_after_the_last_one() {
    let parsed = ok("source_login,source_password,,\nalice,pw,,\nbob,pw,,x\n");
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(parsed.bad, [bad(3, "4 fields, but the header has 2")]);
}

#[test]
fn a_bad_row_with_several_problems_gives_them_all() {
    let parsed = ok("source_login,destination_login\nbob,x\nbob,a b\n");
    assert_eq!(
        parsed.bad,
        [bad(
            3,
            "the source login \"bob\" is already on line 2; the destination login \"a b\" contains a space or a control character"
        )]
    );
}

#[test]
fn imapsync_bad_rows() {
    let parsed = ok("\
h1;alice;p;h2;alice;p
h1;bob;p;h2;bob
# comment

h1;;p;h2;x;p
h1;alice;p;h2;alice2;p
h1,carol,p,h2,carol,p
h1;dave;p;h2;dave;p;x;
h1;e ve;p;h2;eve;p
");
    assert_eq!(
        parsed.bad,
        [
            bad(2, "expected 6 fields host1;user1;password1;host2;user2;password2, found 5"),
            bad(5, "the source login is empty"),
            bad(6, "the source login \"alice\" is already on line 1"),
            bad(
                7,
                "expected 6 fields host1;user1;password1;host2;user2;password2, found 1; the fields seem separated by ',', imapsync's format uses ';'"
            ),
            bad(8, "expected 6 fields host1;user1;password1;host2;user2;password2, found 8"),
            bad(9, "the source login \"e ve\" contains a space or a control character"),
        ]
    );
    assert_eq!(parsed.rows.len(), 1);
}

#[test]
fn wrong_delimiter_advice() {
    let advice = "the file is separated by ';', mailport's and Microsoft 365's formats use ','";
    for text in [
        "source_login;source_password\nalice;pw\n",
        "EmailAddress;UserName;Password\na@b.c;a;p\n",
        // Six names: not to be taken for imapsync's six fields.
        "source_login;source_password;destination_login;destination_password;folders;destination_prefix\n",
    ] {
        let e = err(text.as_bytes(), None);
        assert!(matches!(e, ImportError::SemicolonSeparated { line: 1 }), "{e:?}");
        assert!(e.to_string().starts_with(advice), "{e}");
    }
    let e = err(
        b"source_login;source_password\nalice;pw\n",
        Some(Format::Mailport),
    );
    assert!(
        matches!(e, ImportError::SemicolonSeparated { line: 1 }),
        "{e:?}"
    );

    let e = err(b"# old list\nh1,u1,p1,h2,u2,p2\n", None);
    assert!(
        matches!(e, ImportError::CommaSeparated { line: 2 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("imapsync's format uses ';'"), "{e}");
}

#[test]
fn not_utf8_names_the_line() {
    // Latin-1 "é" on line 3, as Excel writes "CSV" in many locales.
    let text = b"source_login\nalice\nren\xe9\nbob\n";
    let e = err(text, None);
    assert!(
        matches!(
            e,
            ImportError::NotUtf8 {
                line: 3,
                offset: 22
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("line 3 is not UTF-8"), "{e}");
    assert!(e.to_string().contains("UTF-8"), "{e}");
    // UTF-16, as Excel's "Unicode Text".
    let e = err(b"\xff\xfes\x00o\x00", None);
    assert!(
        matches!(e, ImportError::NotUtf8 { line: 1, offset: 0 }),
        "{e:?}"
    );
}

#[test]
fn unknown_column() {
    let e = err(b"source_login,pasword\nalice,pw\n", None);
    let ImportError::UnknownColumn {
        line,
        column,
        known,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*line, column.as_str()), (1, "pasword"));
    assert_eq!(
        known,
        "source_login, source_password, destination_login, destination_password, folders, destination_prefix"
    );
    assert!(e.to_string().contains("`pasword`"), "{e}");
    assert!(e.to_string().contains("destination_prefix"), "{e}");

    let e = err(b"EmailAddress,UserName,Password,Notes\na@b.c,a,p,n\n", None);
    assert!(
        e.to_string().contains("EmailAddress, UserName, Password"),
        "{e}"
    );
}

#[test]
fn other_header_problems() {
    let e = err(b"source_login,Source_Login\na,b\n", None);
    assert!(
        matches!(&e, ImportError::DuplicateColumn { line: 1, column } if column == "Source_Login"),
        "{e:?}"
    );

    let e = err(b"EmailAddress,Password\na@b.c,p\n", None);
    assert!(
        matches!(
            e,
            ImportError::MissingColumn {
                line: 1,
                column: "UserName",
                format: Format::Microsoft365
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("Microsoft 365's format requires"),
        "{e}"
    );

    let e = err(b"destination_login\nbob\n", Some(Format::Mailport));
    assert!(
        matches!(
            e,
            ImportError::MissingColumn {
                column: "source_login",
                ..
            }
        ),
        "{e:?}"
    );

    // A file without a header: its first row is not quoted back.
    let e = err(b"alice,hunter2\n", Some(Format::Mailport));
    assert!(
        matches!(
            e,
            ImportError::NoHeader {
                line: 1,
                format: Format::Mailport
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");

    let e = err(b"alice,hunter2\n", None);
    assert!(matches!(e, ImportError::UnknownFormat { line: 1 }), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(e.to_string().contains("source_login"), "{e}");
}

#[test]
fn no_mailboxes() {
    for text in [
        "",
        "\u{feff}",
        " \r\n\n",
        "source_login,source_password\n",
        "source_login,source_password\r\n,\r\n\r\n",
        "EmailAddress,UserName,Password",
        "# only\n# comments\n",
    ] {
        let e = err(text.as_bytes(), None);
        assert!(matches!(e, ImportError::NoMailboxes), "{text:?}: {e:?}");
        assert!(e.to_string().starts_with("no mailboxes in the file"), "{e}");
    }
    let e = err(b"# only a comment\n", Some(Format::Imapsync));
    assert!(matches!(e, ImportError::NoMailboxes), "{e:?}");
}

#[test]
fn format_names() {
    for (name, format) in [
        ("mailport", Format::Mailport),
        ("m365", Format::Microsoft365),
        ("Microsoft365", Format::Microsoft365),
        ("imapsync", Format::Imapsync),
    ] {
        assert_eq!(name.parse::<Format>().unwrap(), format);
        assert_eq!(format.to_string().parse::<Format>().unwrap(), format);
    }
    let e = "csv".parse::<Format>().unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown file format `csv`; use mailport, m365 (or microsoft365) or imapsync"
    );
}

#[test]
fn debug_output_never_shows_passwords() {
    let parsed =
        ok("source_login,source_password,destination_password\nalice,Sup3rS3cret,0therS3cret\n");
    let row = &parsed.rows[0];
    for debug in [
        format!("{row:?}"),
        format!("{parsed:?}"),
        format!("{:?}", row.source_credential),
    ] {
        assert!(
            !debug.contains("Sup3rS3cret") && !debug.contains("0therS3cret"),
            "{debug}"
        );
    }
    assert_eq!(
        format!("{:?}", row.source_credential),
        "Password(<redacted>)"
    );
    let parsed = ok("h;u;Sup3rS3cret;h;u;0therS3cret\n");
    let debug = format!("{:?}", parsed.rows[0]);
    assert!(
        !debug.contains("Sup3rS3cret") && !debug.contains("0therS3cret"),
        "{debug}"
    );
}

/// A file of mailboxes `m0`, `m1`, ... with blank lines and line ends drawn
/// at random, and the line each mailbox is on.
fn file_with_blank_lines(gaps: &[(usize, bool)]) -> (String, Vec<usize>) {
    let mut text = String::from("source_login,source_password\n");
    let mut lines = Vec::new();
    let mut line = 1;
    for (i, &(blank, crlf)) in gaps.iter().enumerate() {
        let end = if crlf { "\r\n" } else { "\n" };
        text += &end.repeat(blank);
        line += blank + 1;
        lines.push(line);
        text += &format!("m{i},\"p{end}w\"{end}");
        line += 1;
    }
    (text, lines)
}

proptest! {
    #[test]
    fn line_numbers_are_the_files(gaps in proptest::collection::vec((0usize..3, any::<bool>()), 1..20)) {
        let (text, lines) = file_with_blank_lines(&gaps);
        let parsed = ok(&text);
        prop_assert_eq!(parsed.rows.iter().map(|r| r.line).collect::<Vec<_>>(), lines);
    }

    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for format in [None, Some(Format::Mailport), Some(Format::Microsoft365), Some(Format::Imapsync)] {
            let _ = parse(&bytes, format);
        }
    }

    #[test]
    fn never_panics_on_csv_like_text(text in "(source_login|emailaddress,username,password|[,;\"\r\n\u{feff}@a-z]){0,60}") {
        for format in [None, Some(Format::Mailport), Some(Format::Microsoft365), Some(Format::Imapsync)] {
            if let Ok(parsed) = parse(text.as_bytes(), format) {
                // Ended by LF, CRLF or a lone CR.
                let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
                for line in parsed.rows.iter().map(|r| r.line).chain(parsed.bad.iter().map(|b| b.line)) {
                    prop_assert!((1..=lines).contains(&line), "line {} of {}", line, lines);
                }
            }
        }
    }
}
