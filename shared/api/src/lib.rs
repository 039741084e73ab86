//! The wire types of Scry's account service (`scry-server`): what each request sends and each
//! response carries, in one place for the service, which generates its OpenAPI document from
//! them (feature `openapi`), and for its clients (`scry-client`, the CLI, the desktop app), so
//! neither side can drift from the other. Types only (and how a day is spelled): no I/O, no
//! validation beyond serde's.

mod account;
mod error;
mod index;
mod orgs;
mod records;
mod search;

pub use account::*;
pub use error::*;
pub use index::*;
pub use orgs::*;
pub use records::*;
pub use search::*;
