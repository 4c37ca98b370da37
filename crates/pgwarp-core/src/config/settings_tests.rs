//! Tests of `settings.rs`: URLs, fields over URLs, refusals.
use super::*;
use crate::config::ConnectOptions;

fn url(u: &str) -> ConnectOptions {
    ConnectOptions {
        url: Some(u.into()),
        ..Default::default()
    }
}

#[test]
fn url_with_percent_encoding_and_parameters() {
    let s = url("postgresql://al%40ice:p%3Ass@db.example:6543/my%20db?application_name=app&connect_timeout=3&options=-c%20search_path%3Dx")
        .to_settings()
        .unwrap();
    assert_eq!(s.user, "al@ice");
    assert_eq!(s.password.as_deref(), Some(&b"p:ss"[..]));
    assert_eq!(s.database.as_deref(), Some("my db"));
    assert_eq!(s.ports, [6543]);
    assert_eq!(s.application_name.as_deref(), Some("app"));
    assert_eq!(s.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(s.options.as_deref(), Some("-c search_path=x"));
    assert!(s.tcp.keepalives);
    let k = url("postgres://u@h/db?keepalives_idle=30&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=9000")
        .to_settings()
        .unwrap()
        .tcp;
    assert_eq!(k.keepalives_idle, Some(Duration::from_secs(30)));
    assert_eq!(k.keepalives_interval, Some(Duration::from_secs(5)));
    assert_eq!(k.keepalives_count, Some(3));
    assert_eq!(k.tcp_user_timeout, Some(Duration::from_millis(9000)));
    assert!(
        !url("postgres://u@h/db?keepalives=0")
            .to_settings()
            .unwrap()
            .tcp
            .keepalives
    );
}

#[test]
fn unix_socket_host() {
    let s = url("postgres://u@%2Ftmp%2Fpg/db").to_settings().unwrap();
    assert_eq!(s.hosts, [Host::Unix("/tmp/pg".into())]);
}

#[test]
fn explicit_fields_replace_the_url() {
    let s = ConnectOptions {
        url: Some("postgres://a@h1:1,h2:2/db".into()),
        user: Some("b".into()),
        host: Some("other".into()),
        port: Some("7777".into()),
        statement_timeout_ms: Some(1500),
        ..Default::default()
    }
    .to_settings()
    .unwrap();
    assert_eq!(s.user, "b");
    assert_eq!(s.hosts, [Host::Tcp("other".into())]);
    assert_eq!(s.ports, [7777]);
    assert_eq!(s.options.as_deref(), Some("-c statement_timeout=1500"));
    let only_port = ConnectOptions {
        url: Some("postgres://a@h1:1/db".into()),
        port: Some("2".into()),
        ..Default::default()
    }
    .to_settings()
    .unwrap();
    assert_eq!(
        (only_port.hosts[0].clone(), only_port.ports[0]),
        (Host::Tcp("h1".into()), 2)
    );
}

#[test]
fn refuses_bad_scheme_tls_modes_and_unknown_keys() {
    assert!(url("mysql://a@h/db").to_settings().is_err());
    let err = url("postgres://a@h/db?sslmode=verify-full&sslrootcert=/nonexistent/root.crt")
        .to_settings()
        .unwrap_err();
    assert!(err.to_string().contains("root certificate file"), "{err}");
    let err = url("postgres://a@h/db?sslmode=require&sslrootcert=system")
        .to_settings()
        .unwrap_err();
    assert!(err.to_string().contains("weak sslmode"), "{err}");
    let err = url("postgres://a@h/db?sslnegotiation=direct")
        .to_settings()
        .unwrap_err();
    assert!(err.to_string().contains("weak sslmode \"prefer\""), "{err}");
    assert!(url("postgres://a@h/db?sslmode=prefer")
        .to_settings()
        .unwrap()
        .tls
        .is_some());
    assert!(url("postgres://a@h/db?sslmode=disable")
        .to_settings()
        .unwrap()
        .tls
        .is_none());
    assert!(
        url("postgres://a@h/db?sslmode=disable&channel_binding=require")
            .to_settings()
            .is_err()
    );
    let err = url("postgres://a@h/db?frobnicate=1")
        .to_settings()
        .unwrap_err();
    assert!(err.to_string().contains("frobnicate"), "{err}");
    assert!(url("postgres://a@h:1,h:2,h:3/db?port=1,2")
        .to_settings()
        .is_err());
}
