//! `decode-kernels tune`: measure every variant over a shape grid, find the
//! crossovers, write a tuning table, report what changed and what it gains,
//! and plot each decision.

pub mod analysis;
pub mod decisions;
pub mod plot;
