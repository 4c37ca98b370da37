//! Query results as one buffer: the layout JavaScript decodes ([`layout`]), what each column
//! becomes ([`plan`]), the encoder that fills the buffer from rows ([`encoder`]), and the
//! documents it sets aside for JavaScript's exact JSON parser ([`exact`]).

pub mod encoder;
pub mod exact;
pub mod layout;
pub mod plan;

pub use encoder::ResultEncoder;
pub use plan::ResultFormat;
