//! PhotoShelter: the wire shapes (`wire`), the client ferry uses against real accounts
//! (`client`) and the local emulator (`emulator`).
