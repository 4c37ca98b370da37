//! Reservations JavaScript names before the engine has made them (`CLAIM`), so that a
//! checkout travels in the same request batch as its first statement and nobody waits for
//! the engine's answer to a reservation: `pool.reserve()` and `pool.transaction()` cost no
//! thread round trip of their own.
//!
//! A ticket is JavaScript's number for one reservation. Its top bit is set, so it never
//! equals a connection id ([`crate::connection::next_id`] keeps that bit clear), and its low
//! byte picks the shard as a connection id's does, so every request naming it reaches the
//! shard that made it. A request naming a ticket whose reservation is still being made waits
//! here, in arrival order; once it is made, each runs as if it had named the connection, in
//! that order (the order statements on a reserved connection run in). A ticket is forgotten
//! when its reservation is released or ended.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;

use super::completions::Completions;
use super::shard::{run, Command};
use crate::pool::{panic_error, Pool};
use crate::result::layout::{error_buffer, value_buffer};
use crate::sync::lock;

/// The bit that marks a connection number as a ticket.
pub const TICKET_BIT: u32 = 0x8000_0000;

enum State {
    /// Being made; the requests that named it meanwhile, in arrival order.
    Pending(Vec<Command>),
    /// Made: the connection's id.
    Ready(u32),
    /// It could not be made: every request naming it is answered with this error.
    Failed(Vec<u8>),
}

/// One shard's tickets.
#[derive(Clone, Default)]
pub struct Tickets(Arc<Mutex<HashMap<u32, State>>>);

/// Where a shard's work goes: what runs a command and what answers it.
#[derive(Clone)]
pub struct Runner {
    pub pool: Pool,
    pub completions: Arc<Completions>,
    pub load: Arc<AtomicUsize>,
}

impl Runner {
    /// Runs `cmd` as a task of its own. Tasks start in the order they are spawned, which is
    /// what keeps statements on one connection in issue order.
    pub fn spawn(&self, cmd: Command) {
        tokio::spawn(run(
            self.pool.clone(),
            self.completions.clone(),
            self.load.clone(),
            cmd,
        ));
    }

    /// Answers a command that will not run (its load was counted when it was sent).
    fn answer(&self, cmd: &Command, result: &[u8]) {
        self.load.fetch_sub(1, Ordering::Relaxed);
        if let Some(id) = super::shard::command_id(cmd).filter(|&id| id != super::EVENT_ID) {
            self.completions.push(id, result);
        }
    }
}

impl Tickets {
    /// Starts making the reservation `ticket` names; what names it meanwhile waits for it.
    pub fn claim(&self, ticket: u32, runner: &Runner) {
        lock(&self.0).insert(ticket, State::Pending(Vec::new()));
        let (tickets, runner) = (self.clone(), runner.clone());
        tokio::spawn(async move {
            let made = match AssertUnwindSafe(runner.pool.reserve()).catch_unwind().await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(e)) => Err(error_buffer(&e)),
                Err(panic) => Err(error_buffer(&panic_error(panic))),
            };
            let waiting = {
                let mut map = lock(&tickets.0);
                let next = match &made {
                    Ok(conn) => State::Ready(*conn),
                    Err(e) => State::Failed(e.clone()),
                };
                match map.insert(ticket, next) {
                    Some(State::Pending(waiting)) => waiting,
                    _ => Vec::new(),
                }
            };
            runner.load.fetch_sub(1, Ordering::Relaxed);
            for cmd in waiting {
                if let Some(cmd) = tickets.route(cmd, &runner) {
                    runner.spawn(cmd);
                }
            }
        });
    }

    /// The command to run now, with its ticket replaced by the connection; `None` when it
    /// waits for its reservation or was answered here (the reservation failed, or an unknown
    /// ticket).
    pub fn route(&self, mut cmd: Command, runner: &Runner) -> Option<Command> {
        let Some(conn) = reserved_conn(&mut cmd).filter(|c| **c & TICKET_BIT != 0) else {
            return Some(cmd);
        };
        let ticket = *conn;
        let mut map = lock(&self.0);
        match map.get_mut(&ticket) {
            Some(State::Ready(id)) => {
                *conn = *id;
                if ends_reservation(&cmd) {
                    map.remove(&ticket);
                }
                Some(cmd)
            }
            Some(State::Pending(waiting)) => {
                waiting.push(cmd);
                None
            }
            Some(State::Failed(error)) => {
                let error = error.clone();
                if ends_reservation(&cmd) {
                    map.remove(&ticket);
                }
                drop(map);
                // Giving back what was never lent is done at once.
                let answer = if matches!(cmd, Command::Release { .. }) {
                    value_buffer(0)
                } else {
                    error
                };
                runner.answer(&cmd, &answer);
                None
            }
            None => {
                drop(map);
                let err = crate::error::Error::Internal(format!(
                    "reservation {} is not known (released already?)",
                    ticket & !TICKET_BIT
                ));
                runner.answer(&cmd, &error_buffer(&err));
                None
            }
        }
    }
}

/// The reserved connection a command names, if it names one.
fn reserved_conn(cmd: &mut Command) -> Option<&mut u32> {
    match cmd {
        Command::Query { conn, .. }
        | Command::Release { conn, .. }
        | Command::End { conn, .. }
        | Command::Exec { conn, .. }
        | Command::CancelStatements { conn, .. }
        | Command::Describe { conn, .. }
        | Command::Watch { conn } => Some(conn),
        _ => None,
    }
}

fn ends_reservation(cmd: &Command) -> bool {
    matches!(cmd, Command::Release { .. } | Command::End { .. })
}
