//! The reading side of a connection's task: the server's messages, split at each
//! ReadyForQuery and handed to the request they answer, with notices, notifications and
//! parameter changes taken out on the way; a failed session reset closes the connection.

use std::sync::atomic::Ordering;

use bytes::BytesMut;
use postgres_protocol::message::backend::{self, Header, Message};
use postgres_protocol::message::frontend;

use super::Task;
use super::{Kind, Unsolicited};
use crate::server_error::ServerError;
use crate::sync::lock;
use crate::wire::pipe::Poison;
use crate::wire::TxStatus;

/// CopyBothResponse (replication), which postgres-protocol does not name.
const COPY_BOTH_RESPONSE_TAG: u8 = b'W';

impl Task {
    /// Keeps a FATAL error the server sent before closing: why the connection ends, for
    /// everyone waiting, and whether it says the server is going away.
    fn keep_fatal(&mut self, e: &ServerError) {
        self.fatal = Some(format!("{}: {}", e.code(), e.message()));
        self.fatal_outage = super::is_outage_code(e.code());
    }

    /// A CopyInResponse (or CopyBothResponse): the server now waits for COPY data and will
    /// take the next message it reads as such. Expected once for a COPY request; otherwise
    /// (a COPY FROM STDIN that came another way, or a second one in the same script) it is
    /// failed with CopyFail when nothing was written behind it, and the connection is given
    /// up when something was, since the server would swallow that request's first message
    /// and every later answer would go to the wrong caller.
    fn copy_starts(&mut self) -> Result<(), String> {
        let alone = self.pending.len() == 1 && self.write.is_empty() && self.deferred.is_empty();
        let Some(head) = self.pending.front_mut() else {
            return Err("protocol error: a COPY started with no request waiting".into());
        };
        if head.kind == Kind::CopyIn && !head.copy_started {
            head.copy_started = true;
            return Ok(());
        }
        if head.kind != Kind::Extended && alone {
            let mut buf = BytesMut::new();
            let _ = frontend::copy_fail("COPY FROM STDIN runs only through copyIn()", &mut buf);
            self.queued += buf.len() as u64;
            self.state.unwritten.fetch_add(buf.len(), Ordering::Relaxed);
            self.write.extend_from_slice(&buf);
            return Ok(());
        }
        Err(
            "a COPY ... FROM STDIN started outside copyIn(); the requests pipelined behind it \
             could not be told apart from its data, so the connection was closed"
                .into(),
        )
    }

    /// Hands the complete messages in the read buffer to their requests.
    pub(super) fn dispatch(&mut self) -> Result<bool, String> {
        let mut scanned = 0;
        let mut progress = false;
        loop {
            let header = match Header::parse(&self.read[scanned..]) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(format!("protocol error: {e}")),
            };
            let len = header.len() as usize + 1;
            if len > crate::wire::MAX_MESSAGE {
                return Err(format!("protocol error: a message of {len} bytes"));
            }
            if self.read.len() - scanned < len {
                // A large message: make room for all of it at once.
                self.read.reserve(len - (self.read.len() - scanned));
                break;
            }
            match header.tag() {
                backend::NOTICE_RESPONSE_TAG
                | backend::NOTIFICATION_RESPONSE_TAG
                | backend::PARAMETER_STATUS_TAG => {
                    self.hand_over(scanned, None)?;
                    scanned = 0;
                    let message = self.read.split_to(len);
                    self.unsolicited(message);
                }
                backend::READY_FOR_QUERY_TAG => {
                    if len != 6 {
                        return Err("protocol error: a ReadyForQuery of the wrong length".into());
                    }
                    let status = self.read[scanned + 5];
                    self.state.status.store(status, Ordering::Relaxed);
                    let poison = if self.state.poisoned.load(Ordering::Relaxed) {
                        Poison::ByEarlier
                    } else if !TxStatus::from_byte(status).is_idle()
                        && self.state.strict.load(Ordering::Relaxed)
                    {
                        self.state.poisoned.store(true, Ordering::Relaxed);
                        Poison::ByThis
                    } else {
                        Poison::Clean
                    };
                    self.hand_over(scanned + len, Some(poison))?;
                    scanned = 0;
                }
                backend::ERROR_RESPONSE_TAG if self.pending.is_empty() => {
                    // Sent before the server closes the connection on its own.
                    let mut message = self.read.split_to(len);
                    if let Ok(Some(Message::ErrorResponse(body))) = Message::parse(&mut message) {
                        if let Ok(e) = ServerError::parse(body.fields()) {
                            self.keep_fatal(&e);
                        }
                    }
                }
                tag if self.pending.is_empty() => {
                    return Err(format!(
                        "protocol error: message {:?} with no request waiting",
                        tag as char
                    ))
                }
                backend::COPY_IN_RESPONSE_TAG | COPY_BOTH_RESPONSE_TAG => {
                    self.copy_starts()?;
                    scanned += len;
                }
                backend::ERROR_RESPONSE_TAG => {
                    // A FATAL error is also why the connection ends: keep it for the others.
                    let mut message = BytesMut::from(&self.read[scanned..scanned + len]);
                    if let Ok(Some(Message::ErrorResponse(body))) = Message::parse(&mut message) {
                        if let Ok(e) = ServerError::parse(body.fields()) {
                            if matches!(e.field(b'V'), Some("FATAL" | "PANIC")) {
                                self.keep_fatal(&e);
                            }
                            // A write refused as read-only: the server may have been demoted
                            // (or the transaction was READ ONLY): its role is checked again.
                            if e.code() == "25006" {
                                if let Some((host, _)) = self.state.host.get() {
                                    host.suspect();
                                }
                            }
                            if self.pending.front().map(|w| w.kind) == Some(Kind::Reset) {
                                self.reset_failed = Some(format!("{}: {}", e.code(), e.message()));
                            }
                        }
                    }
                    scanned += len;
                }
                _ => scanned += len,
            }
            progress = true;
        }
        self.hand_over(scanned, None)?;
        Ok(progress)
    }

    /// Gives the first `n` bytes of the read buffer to the request at the head of the queue;
    /// `end` when they end with its ReadyForQuery, saying whether the connection is poisoned.
    fn hand_over(&mut self, n: usize, end: Option<Poison>) -> Result<(), String> {
        if n == 0 {
            return Ok(());
        }
        let chunk = self.read.split_to(n);
        let Some(head) = self.pending.front() else {
            return Err("protocol error: an answer with no request waiting".into());
        };
        head.pipe
            .push(chunk, end.is_some(), end.unwrap_or_default());
        if end.is_some() {
            if head.kind == Kind::CopyIn {
                // Requests held back behind the COPY may go now.
                self.copying = false;
            }
            self.pending.pop_front();
            // (Only ever set while a reset is at the head: this is its end.)
            if let Some(why) = self.reset_failed.take() {
                // What is pipelined behind would run on (or read) a session left as the last
                // holder had it: it fails with the connection instead.
                return Err(format!(
                    "the session reset after the connection's last holder failed ({why})"
                ));
            }
            if self.pending.is_empty() {
                self.set_wire_key(0);
            }
            self.count_answering();
        }
        Ok(())
    }

    fn unsolicited(&mut self, mut message: BytesMut) {
        let parsed = match Message::parse(&mut message) {
            Ok(Some(m)) => m,
            _ => return,
        };
        let event = match parsed {
            Message::ParameterStatus(body) => {
                if let (Ok(name), Ok(value)) = (body.name(), body.value()) {
                    lock(&self.state.parameters).insert(name.to_string(), value.to_string());
                    if super::super::target::ROLE_PARAMETERS.contains(&name) {
                        self.state.role_reported.store(true, Ordering::Relaxed);
                    }
                }
                return;
            }
            Message::NoticeResponse(body) => match ServerError::parse(body.fields()) {
                Ok(e) => Unsolicited::Notice(e),
                Err(_) => return,
            },
            Message::NotificationResponse(body) => Unsolicited::Notification {
                process_id: body.process_id(),
                channel: body.channel().unwrap_or_default().to_string(),
                payload: body.message().unwrap_or_default().to_string(),
            },
            _ => return,
        };
        self.tell(event);
    }

    /// Hands `event` to the connection's sink, if it has one.
    pub(super) fn tell(&self, event: Unsolicited) {
        let sink = lock(&self.state.sink).clone();
        if let Some(sink) = sink {
            sink(event);
        }
    }
}
