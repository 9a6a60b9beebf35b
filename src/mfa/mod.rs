//! Verifying and enrolling authentication factors beyond the password. No HTTP here.

pub mod passkey;
pub mod recovery;
pub mod totp;
