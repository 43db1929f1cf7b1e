//! Dispatchers: pure functions from an op's description, the device's
//! capabilities, the tuning table and the caller's preferences to a plan.
//! They need no GPU, so CI tests them exhaustively.

pub mod matmul;
pub mod sdpa;
pub mod softmax;

/// Reads an environment variable; unset or empty is None.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
