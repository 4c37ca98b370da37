//! `target_session_attrs`: whether a server that accepted the session is the kind wanted.
//! Servers from 14 on report `in_hot_standby` and `default_transaction_read_only` at startup,
//! and again whenever they change (a promotion; a demotion to read-only by a reload); older
//! ones are asked at startup.

use super::conn::Client;
use super::startup::TargetSessionAttrs;
use crate::error::Error;

/// The parameters by which a server tells its role.
pub(crate) const ROLE_PARAMETERS: &[&str] = &["in_hot_standby", "default_transaction_read_only"];

/// Whether the session on `client` still fits `want` by what the server last reported, without
/// asking (true where it reported nothing, or for `any` and `prefer-standby`, which fit any
/// server): a connection that no longer fits is retired, and the next one opened finds a host
/// that does.
pub fn fits_reported(client: &Client, want: TargetSessionAttrs) -> bool {
    let on = |name: &str| client.parameter(name).map(|v| v == "on");
    let (Some(standby), read_only) = (on("in_hot_standby"), on("default_transaction_read_only"))
    else {
        return true;
    };
    role_fits(want, standby, standby || read_only == Some(true))
}

/// Whether a server that is (or is not) a standby, and read-only (or not), is what `want` asks.
fn role_fits(want: TargetSessionAttrs, standby: bool, read_only: bool) -> bool {
    match want {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => true,
        TargetSessionAttrs::ReadWrite => !read_only,
        TargetSessionAttrs::ReadOnly => read_only,
        TargetSessionAttrs::Primary => !standby,
        TargetSessionAttrs::Standby => standby,
    }
}

/// Whether the session on `client` fits `want`.
pub async fn fits(client: &Client, want: TargetSessionAttrs) -> Result<bool, Error> {
    if want == TargetSessionAttrs::Any {
        return Ok(true);
    }
    let standby = match client.parameter("in_hot_standby") {
        Some(v) => v == "on",
        None => ask(client, "SELECT pg_catalog.pg_is_in_recovery()").await? == "t",
    };
    let read_only = standby
        || match client.parameter("default_transaction_read_only") {
            Some(v) => v == "on",
            None => ask(client, "SHOW transaction_read_only").await? == "on",
        };
    Ok(role_fits(want, standby, read_only))
}

async fn ask(client: &Client, sql: &str) -> Result<String, Error> {
    let script = client.batch(sql).await?;
    Ok(script
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default())
}
