//! `target_session_attrs`: whether a server that accepted the session is the kind wanted.
//! Servers from 14 on report `in_hot_standby` and `default_transaction_read_only` at startup,
//! and again whenever they change (a promotion; a demotion to read-only by a reload); older
//! ones are asked at startup.

use super::conn::Client;
use super::hosts::Role;
use super::settings::TargetSessionAttrs;
use crate::error::Error;

/// The parameters by which a server tells its role.
pub(crate) const ROLE_PARAMETERS: &[&str] = &["in_hot_standby", "default_transaction_read_only"];

/// The role the server on `client` reported (servers from 14 on), if it did.
pub fn reported_role(client: &Client) -> Option<Role> {
    let on = |name: &str| client.parameter(name).map(|v| v == "on");
    let standby = on("in_hot_standby")?;
    Some(Role::of(
        standby,
        standby || on("default_transaction_read_only") == Some(true),
    ))
}

/// Whether a server of `role` is what `want` asks (an unknown role fits nothing but `any`).
pub fn role_fits(want: TargetSessionAttrs, role: Role) -> bool {
    match want {
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => true,
        TargetSessionAttrs::ReadWrite => role == Role::Primary,
        TargetSessionAttrs::ReadOnly => matches!(role, Role::ReadOnly | Role::Standby),
        TargetSessionAttrs::Primary => matches!(role, Role::Primary | Role::ReadOnly),
        TargetSessionAttrs::Standby => role == Role::Standby,
    }
}

/// The role of the server on `client`: as it reported it, else asked (two round trips on
/// servers before 14, and behind a pooler, whose startup parameters may be another server's),
/// or `None` without asking when `want` is `any` (any server fits).
pub async fn role(
    client: &Client,
    want: TargetSessionAttrs,
    ask_always: bool,
) -> Result<Option<Role>, Error> {
    if let Some(role) = reported_role(client).filter(|_| !ask_always) {
        return Ok(Some(role));
    }
    if want == TargetSessionAttrs::Any {
        return Ok(None);
    }
    let standby = ask(client, "SELECT pg_catalog.pg_is_in_recovery()").await? == "t";
    let read_only = standby || ask(client, "SHOW transaction_read_only").await? == "on";
    Ok(Some(Role::of(standby, read_only)))
}

async fn ask(client: &Client, sql: &str) -> Result<String, Error> {
    let script = client.batch(sql).await?;
    Ok(script
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default())
}
