//! Cryptography: random secrets and their digests, password hashing, token signing keys.

pub mod at_rest;
pub mod keys;
pub mod password;
pub mod random;
