//! Query results as one buffer: the layout JavaScript decodes ([`layout`]), what each column
//! becomes ([`plan`]) and the encoder that fills the buffer from rows ([`encoder`]).

pub mod encoder;
pub mod layout;
pub mod plan;

pub use encoder::ResultEncoder;
pub use plan::ResultFormat;
