//! Query results as one buffer: the layout JavaScript decodes ([`layout`]) and the encoder that
//! fills it from rows ([`encoder`]).

pub mod encoder;
pub mod layout;

pub use encoder::ResultEncoder;
