//! Helpers shared by the engine's integration tests.

use std::time::Duration;

use mailport_engine::{Connector, Credentials, EndpointConfig, Secret};
use mailport_net::TlsOptions;
use mailport_testbed::Dovecot;

/// A connector for alice at `url` on `d`, trusting its test CA.
pub fn connector(d: &Dovecot, url: &str) -> Connector {
    Connector::new(EndpointConfig {
        endpoint: url.parse().unwrap(),
        credentials: Credentials::Password(Secret::new(d.password("alice").into())),
        auth_mech: None,
        tls: TlsOptions {
            ca_file: Some(d.certs.ca_pem.clone()),
            ..Default::default()
        },
        allow_plaintext: false,
        no_tls: false,
        timeout: Duration::from_secs(60),
    })
    .unwrap()
}
