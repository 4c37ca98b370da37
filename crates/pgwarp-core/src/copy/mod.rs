//! COPY on one connection: `input` sends a `COPY ... FROM STDIN` its data (text or binary
//! rows), `output` pages a `COPY ... TO STDOUT`. The pool's side (holding the connection,
//! the inbox of data from JavaScript) is `pool::copy`.

pub(crate) mod input;
pub(crate) mod output;
