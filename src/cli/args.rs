//! Value parsers shared by the subcommands' options.

/// Parses a whole number >= 0 for an unsigned option. clap puts the option's
/// name in front of the message ("invalid value '-1' for '--batch <BATCH>'"),
/// so this says only what is wrong with the value and what is expected
/// (instead of "invalid digit found in string").
pub fn unsigned<T: Unsigned>(s: &str) -> Result<T, String> {
    let t = s.trim();
    let expected = format!("expected a whole number from 0 to {}", T::MAX_VALUE);
    if t.is_empty() {
        return Err(format!("empty; {expected}"));
    }
    if t.starts_with('-') {
        return Err(format!("a negative number; {expected}"));
    }
    t.parse::<T>().map_err(|_| {
        if t.bytes().all(|b| b.is_ascii_digit()) {
            format!("too large; {expected}")
        } else {
            format!("not a whole number; {expected}")
        }
    })
}

/// The unsigned integer types options use.
pub trait Unsigned: std::str::FromStr {
    /// The largest value, for messages.
    const MAX_VALUE: u64;
}

impl Unsigned for usize {
    const MAX_VALUE: u64 = usize::MAX as u64;
}

impl Unsigned for u64 {
    const MAX_VALUE: u64 = u64::MAX;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values_say_what_is_wrong() {
        assert_eq!(unsigned::<usize>("42"), Ok(42));
        assert!(unsigned::<usize>("-1").unwrap_err().starts_with("a negative number; expected a whole number"));
        assert!(unsigned::<u64>("99999999999999999999").unwrap_err().starts_with("too large"));
        assert!(unsigned::<usize>("1.5").unwrap_err().starts_with("not a whole number"));
        assert!(unsigned::<usize>("").unwrap_err().starts_with("empty"));
    }
}
