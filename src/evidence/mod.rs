//! Evidence files: the content-addressed blob store on local disk and the signed, time-limited,
//! purpose-bound download tokens.

pub mod store;
pub mod token;
