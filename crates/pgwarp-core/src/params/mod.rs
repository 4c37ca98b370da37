//! Query parameters: the compact form JavaScript writes them in ([`wire`]), and their encoding
//! for the statement's parameter types ([`encode`]) or as COPY rows ([`copy`]).

pub mod copy;
pub mod encode;
pub mod literal;
pub mod record;
pub mod wire;

pub use encode::{encode_all, encode_untyped, encode_verbatim};
pub use wire::{decode, Value};
