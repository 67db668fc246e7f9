//! PhotoShelter: the wire shapes (`wire`), the client ferry uses against real accounts
//! (`client`) and the local emulator (`emulator`).

pub mod client;
pub mod emulator;
pub mod wire;
