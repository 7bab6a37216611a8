//! The PROXY protocol header (crates/net: `proxy_header.rs`): the first
//! bytes of every connection when the proxy sits behind a load balancer.
//!
//! Properties: `read` never panics or hangs on any bytes; it never consumes
//! more than a version-1 line (107 bytes) or a version-2 header (16 bytes
//! plus at most 1,024); a version-1 line it accepts ends in CRLF; the
//! parsers of each version never panic on their own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailport_net::proxy_header::{parse_v1, parse_v2, read, V1_MAX, V2_MAX_BODY};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut input = data;
    let got = rt.block_on(read(&mut input, std::time::Duration::from_secs(1)));
    let consumed = data.len() - input.len();
    assert!(consumed <= (16 + V2_MAX_BODY).max(V1_MAX));
    if got.is_ok() && data.starts_with(b"PROXY ") {
        assert!(data[..consumed].ends_with(b"\r\n"));
    }
    let _ = parse_v1(data);
    if let [vc, fam, body @ ..] = data {
        let _ = parse_v2(*vc, *fam, body);
    }
});
