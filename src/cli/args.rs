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

/// Parses a whole number >= 1 (a count where 0 would be a slip, such as
/// `--group`).
pub fn positive<T: Unsigned + PartialEq + Default>(s: &str) -> Result<T, String> {
    let v = unsigned::<T>(s)?;
    if v == T::default() {
        return Err(format!("0; expected a whole number from 1 to {}", T::MAX_VALUE));
    }
    Ok(v)
}

/// Parses what a group's end costs the imma kernel (`quant.imma_group_cost`):
/// super-blocks of one warp's stream, a decimal number from 0 to 64.
pub fn group_cost(s: &str) -> Result<f64, String> {
    let expected = "expected super-blocks from 0 to 64, a decimal number such as 0.25";
    let v: f64 = s.trim().parse().map_err(|_| format!("not a number; {expected}"))?;
    if !crate::tuning::QuantTuning::IMMA_GROUP_COST_RANGE.contains(&v) {
        return Err(format!("{v} is out of range; {expected}"));
    }
    Ok(v)
}

/// Parses a matrix shape "MxK" (two whole numbers >= 1, such as 4096x14336).
pub fn shape_mxk(s: &str) -> Result<(usize, usize), String> {
    let expected = "expected rows x columns such as 4096x14336";
    let (m, k) = s.trim().split_once(['x', 'X']).ok_or_else(|| format!("no 'x'; {expected}"))?;
    match (positive::<usize>(m), positive::<usize>(k)) {
        (Ok(m), Ok(k)) => Ok((m, k)),
        (Err(e), _) | (_, Err(e)) => Err(format!("{e} ({expected})")),
    }
}

/// Parses a real number for an f32 option (a scale, alpha, beta). It is read
/// as f64 first, so a finite value that f32 cannot hold (1e39 would become
/// inf, 1e-50 would become 0) is an error rather than silently another
/// number. NaN and infinities pass through: each op rejects non-finite
/// scalars itself, naming the argument (the one rule for library and CLI).
pub fn real_f32(s: &str) -> Result<f32, String> {
    let t = s.trim();
    let v: f64 = t.parse().map_err(|_| "not a number; expected a decimal number such as 0.5 or -1e-3".to_string())?;
    let f = v as f32;
    if v.is_finite() && f.is_infinite() {
        return Err(format!("{t} overflows f32; expected a magnitude of at most {:e}", f32::MAX));
    }
    if v != 0.0 && f == 0.0 {
        return Err(format!("{t} underflows f32 to 0; expected a magnitude of at least {:e}", f32::from_bits(1)));
    }
    Ok(f)
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
        assert_eq!(positive::<usize>("3"), Ok(3));
        assert!(positive::<usize>("0").unwrap_err().starts_with("0; expected a whole number from 1"));
    }

    #[test]
    fn f32_options_must_fit_f32() {
        assert_eq!(real_f32("0.5"), Ok(0.5));
        assert_eq!(real_f32("-1e-3"), Ok(-1e-3));
        assert_eq!(real_f32("3.4e38"), Ok(3.4e38));
        assert!(real_f32("1e39").unwrap_err().contains("overflows f32"));
        assert!(real_f32("-1e39").unwrap_err().contains("overflows f32"));
        assert!(real_f32("1e-50").unwrap_err().contains("underflows f32"));
        assert!(real_f32("abc").unwrap_err().starts_with("not a number"));
        // Non-finite values are the ops' to reject, with the argument's name.
        assert!(real_f32("nan").unwrap().is_nan());
        assert_eq!(real_f32("inf"), Ok(f32::INFINITY));
    }

    #[test]
    fn group_costs_are_super_blocks_from_0_to_64() {
        assert_eq!(group_cost("0.25"), Ok(0.25));
        assert_eq!(group_cost("0"), Ok(0.0));
        assert_eq!(group_cost("64"), Ok(64.0));
        for bad in ["-0.5", "64.5", "nan", "inf"] {
            assert!(group_cost(bad).unwrap_err().contains("out of range; expected super-blocks from 0 to 64"), "{bad}");
        }
        assert!(group_cost("x").unwrap_err().starts_with("not a number"));
    }
}
