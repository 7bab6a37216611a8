//! The PROXY protocol header (HAProxy's, versions 1 and 2) a load balancer
//! sends first on each connection it passes on: the client's real address.
//! Only the header is read — not one byte of what follows, which belongs to
//! the protocol behind it — and it is bounded in size and time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Version 2 starts with these 12 bytes.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// A version-1 line is at most 107 bytes, CRLF included.
pub const V1_MAX: usize = 107;
/// Version 2 address and TLV bytes we accept (the spec allows 65,535;
/// addresses take 36 at most, a few TLVs some hundreds).
pub const V2_MAX_BODY: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("no PROXY protocol header (connections must come through the load balancer when --proxy-protocol is on)")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("the PROXY protocol header did not arrive within {} seconds", .0.as_secs())]
    Timeout(Duration),
    #[error("reading the PROXY protocol header: {0}")]
    Io(String),
}

/// Reads the header; the client's address, or `None` when the header says
/// the connection is the balancer's own (v1 `UNKNOWN`, v2 `LOCAL`, or an
/// address family other than TCP).
pub async fn read<S: AsyncRead + Unpin>(
    s: &mut S,
    timeout: Duration,
) -> Result<Option<SocketAddr>, HeaderError> {
    match tokio::time::timeout(timeout, read_unbounded_in_time(s)).await {
        Ok(r) => r,
        Err(_) => Err(HeaderError::Timeout(timeout)),
    }
}

async fn read_unbounded_in_time<S: AsyncRead + Unpin>(
    s: &mut S,
) -> Result<Option<SocketAddr>, HeaderError> {
    let io = |e: std::io::Error| HeaderError::Io(e.to_string());
    // Both versions are at least 12 bytes long ("PROXY UNKNOWN\r\n": 15).
    let mut start = [0u8; 12];
    s.read_exact(&mut start).await.map_err(io)?;
    if start == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        s.read_exact(&mut fixed).await.map_err(io)?;
        let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if len > V2_MAX_BODY {
            return Err(HeaderError::Malformed("version 2 header too long"));
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.map_err(io)?;
        return parse_v2(fixed[0], fixed[1], &body);
    }
    if !start.starts_with(b"PROXY ") {
        return Err(HeaderError::Missing);
    }
    // One byte at a time: nothing after the line may be consumed.
    let mut line = start.to_vec();
    while !line.ends_with(b"\n") {
        if line.len() >= V1_MAX {
            return Err(HeaderError::Malformed(
                "version 1 line longer than 107 bytes",
            ));
        }
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.map_err(io)?;
        line.push(b[0]);
    }
    parse_v1(&line)
}

/// A version-1 line, CRLF included:
/// `PROXY TCP4|TCP6 SRC DST SRCPORT DSTPORT` or `PROXY UNKNOWN ...`.
pub fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>, HeaderError> {
    let bad = HeaderError::Malformed;
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or(bad("version 1 line does not end in CRLF"))?;
    let line = std::str::from_utf8(line).map_err(|_| bad("version 1 line is not ASCII"))?;
    let mut words = line.split(' ');
    if words.next() != Some("PROXY") {
        return Err(bad("version 1 line does not start with PROXY"));
    }
    let family = words.next().ok_or(bad("no protocol family"))?;
    if family == "UNKNOWN" {
        return Ok(None);
    }
    let fields: Vec<&str> = words.collect();
    let [src, _dst, sport, _dport] = fields[..] else {
        return Err(bad("version 1 needs source, destination and two ports"));
    };
    let ip: IpAddr = match family {
        "TCP4" => IpAddr::V4(src.parse().map_err(|_| bad("bad IPv4 source"))?),
        "TCP6" => IpAddr::V6(src.parse().map_err(|_| bad("bad IPv6 source"))?),
        _ => return Err(bad("protocol family is not TCP4, TCP6 or UNKNOWN")),
    };
    // Ports are decimal without leading zeros or signs.
    if sport.is_empty()
        || !sport.bytes().all(|b| b.is_ascii_digit())
        || (sport.len() > 1 && sport.starts_with('0'))
    {
        return Err(bad("bad source port"));
    }
    let port: u16 = sport.parse().map_err(|_| bad("bad source port"))?;
    Ok(Some(SocketAddr::new(ip, port)))
}

/// Version 2 after its signature: the version/command byte, the family
/// byte, and the body (addresses, then TLVs, which are skipped).
pub fn parse_v2(
    version_command: u8,
    family: u8,
    body: &[u8],
) -> Result<Option<SocketAddr>, HeaderError> {
    let bad = HeaderError::Malformed;
    if version_command >> 4 != 2 {
        return Err(bad("version 2 header of another version"));
    }
    match version_command & 0x0f {
        0 => return Ok(None), // LOCAL: the balancer's own connection
        1 => {}
        _ => return Err(bad("version 2 command is neither LOCAL nor PROXY")),
    }
    match family {
        // TCP over IPv4: source, destination, source port, destination port.
        0x11 => {
            let b = body
                .get(..12)
                .ok_or(bad("version 2 IPv4 addresses cut short"))?;
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = u16::from_be_bytes([b[8], b[9]]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        0x21 => {
            let b = body
                .get(..36)
                .ok_or(bad("version 2 IPv6 addresses cut short"))?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&b[..16]);
            let port = u16::from_be_bytes([b[32], b[33]]);
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                port,
            )))
        }
        // UNSPEC, UDP, UNIX: no client address to use.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    async fn read_all(bytes: &[u8]) -> (Result<Option<SocketAddr>, HeaderError>, Vec<u8>) {
        let mut r = bytes;
        let got = read(&mut r, Duration::from_secs(1)).await;
        (got, r.to_vec())
    }

    #[tokio::test]
    async fn version_1_and_what_follows_it() {
        let (got, rest) =
            read_all(b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 143\r\nA1 CAPABILITY\r\n").await;
        assert_eq!(got, Ok(Some("203.0.113.7:51234".parse().unwrap())));
        assert_eq!(
            rest, b"A1 CAPABILITY\r\n",
            "nothing after the header is read"
        );
        let (got, _) = read_all(b"PROXY TCP6 2001:db8::7 2001:db8::1 1 993\r\n").await;
        assert_eq!(got, Ok(Some("[2001:db8::7]:1".parse().unwrap())));
        let (got, _) = read_all(b"PROXY UNKNOWN\r\n").await;
        assert_eq!(got, Ok(None));
        for bad in [
            &b"A1 LOGIN alice pw\r\n"[..],
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n",
            b"PROXY TCP4 1.2.3.400 5.6.7.8 80 90\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080 90\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 90\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 80 90\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 90\n",
        ] {
            assert!(read_all(bad).await.0.is_err(), "{bad:?}");
        }
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200], b"\r\n"].concat();
        assert!(matches!(
            read_all(&long).await.0,
            Err(HeaderError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn version_2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12 + 4]);
        h.extend_from_slice(&[198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 143]);
        h.extend_from_slice(&[0x04, 0, 1, 0xaa]); // a TLV, skipped
        h.extend_from_slice(b"* rest");
        let (got, rest) = read_all(&h).await;
        assert_eq!(got, Ok(Some("198.51.100.9:8080".parse().unwrap())));
        assert_eq!(rest, b"* rest");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(read_all(&local).await.0, Ok(None));
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x21, 0, 12]);
        short.extend_from_slice(&[0; 12]);
        assert!(read_all(&short).await.0.is_err());
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(
            read_all(&huge).await.0,
            Err(HeaderError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn any_bytes_give_an_answer_and_never_read_past_a_v1_line(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let mut input = b"PROXY ".to_vec();
            input.extend_from_slice(&bytes);
            let (_, rest) = rt.block_on(read_all(&input));
            let consumed = input.len() - rest.len();
            prop_assert!(consumed <= V1_MAX);
        }

        #[test]
        fn v1_lines_for_any_address_parse_back(a in any::<[u8; 4]>(), port in any::<u16>()) {
            let ip = Ipv4Addr::from(a);
            let line = format!("PROXY TCP4 {ip} 10.0.0.1 {port} 143\r\n");
            prop_assert_eq!(parse_v1(line.as_bytes()), Ok(Some(SocketAddr::new(IpAddr::V4(ip), port))));
        }
    }
}
