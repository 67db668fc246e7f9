//! Preservica: the wire shapes (`wire`), the client ferry uses against real tenants
//! (`client`), the local emulator (`emulator`) and OPEX packages for ingest (`opex`).

pub mod client;
pub mod emulator;
pub mod opex;
pub mod wire;
