//! Plain domain types, validated by their constructors. No HTTP and no SQL here.

pub mod client;
pub mod scope;
pub mod user;

/// The current Unix time in seconds: the one clock every timestamp comes from.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
