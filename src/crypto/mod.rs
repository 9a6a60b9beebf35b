//! Cryptography: random secrets and their digests, password hashing, token signing keys.

pub mod keys;
pub mod password;
pub mod random;
