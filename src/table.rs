//! Plain-text tables for every report the command line prints: columns sized
//! to their widest cell and aligned under their headers, and numbers with a
//! fixed count of significant digits (so 0.0123 GB/s on the CPU backend does
//! not print as 0, nor 123456 us as 123456.00).
//!
//! ```
//! use decode_kernels::table::{sig, Table};
//! let mut t = Table::new().left("mode").right("step us").right("tokens/s");
//! t.push(["eager", &sig(219_000.0, 3), &sig(4.56, 3)]);
//! assert_eq!(t.render(), "mode   step us  tokens/s\neager   219000      4.56\n");
//! ```

/// How a column's cells (and its header) sit in the column's width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left: names, labels, shapes.
    Left,
    /// Flush right: numbers, so their digits line up.
    Right,
}

/// Columns between two columns.
const GAP: &str = "  ";

/// A table built row by row and rendered at once (widths need every cell).
/// An empty cell prints as `-`, so no column has holes.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with no columns yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a left-aligned column.
    pub fn left(mut self, header: &str) -> Self {
        self.headers.push((header.to_string(), Align::Left));
        self
    }

    /// Adds a right-aligned column.
    pub fn right(mut self, header: &str) -> Self {
        self.headers.push((header.to_string(), Align::Right));
        self
    }

    /// Appends a row. Cells past the last column are dropped; missing ones print as `-`.
    pub fn push<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut row: Vec<String> = cells.into_iter().take(self.headers.len()).map(|c| c.as_ref().to_string()).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The header line and one line per row, each ending in a newline, with
    /// no trailing spaces.
    pub fn render(&self) -> String {
        let cell = |c: &str| if c.trim().is_empty() { "-".to_string() } else { c.to_string() };
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        let widths: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .map(|(i, (h, _))| rows.iter().map(|r| width(&r[i])).chain([width(h)]).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        let headers: Vec<String> = self.headers.iter().map(|(h, _)| h.clone()).collect();
        for line in std::iter::once(&headers).chain(rows.iter()) {
            let mut s = String::new();
            for (i, c) in line.iter().enumerate() {
                if i > 0 {
                    s += GAP;
                }
                let pad = " ".repeat(widths[i] - width(c));
                match self.headers[i].1 {
                    Align::Left => {
                        s += c;
                        s += &pad;
                    }
                    Align::Right => {
                        s += &pad;
                        s += c;
                    }
                }
            }
            out += s.trim_end();
            out.push('\n');
        }
        out
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `v` with `digits` significant digits and no exponent: 0.0123, 4.56, 81.2,
/// 1234 (a number at or above 10^digits keeps its integer digits). Zero is
/// `0`, a non-finite value `-`.
pub fn sig(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = digits.max(1) as i32;
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit (9.996 -> 10.00): one decimal less.
    let carried = s.parse::<f64>().is_ok_and(|r| r != 0.0 && r.abs().log10().floor() as i32 > magnitude);
    if carried && decimals > 0 {
        return format!("{v:.prec$}", prec = decimals - 1);
    }
    s
}

/// An optional number with [`sig`]; `-` when absent.
pub fn sig_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| sig(x, digits))
}

/// The unit for a column of times whose largest is `max_us` microseconds,
/// and the divisor from microseconds: `us` below 10 ms, `ms` below 10 s,
/// else `s` (so no cell needs more than 4 integer digits).
pub fn time_unit(max_us: f64) -> (&'static str, f64) {
    if max_us >= 1e7 {
        ("s", 1e6)
    } else if max_us >= 1e4 {
        ("ms", 1e3)
    } else {
        ("us", 1.0)
    }
}

/// A byte count in decimal units with 3 significant digits: `512 B`,
/// `1.79 KB`, `272 MB`, `16.1 GB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 999.5 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{} {}", sig(v, 3), UNITS[u])
    }
}

/// Checks that a rendered table's columns line up: the lines are split into
/// cells at runs of two or more spaces, and every column must share either
/// its left edge (left-aligned) or its right edge (right-aligned) on every
/// line that has it. A line may stop early (trailing cells left out), and a
/// cell must not hold two spaces in a row. For tests of printed tables.
pub fn check_alignment(text: &str) -> std::result::Result<(), String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let spans: Vec<Vec<(usize, usize)>> = lines.iter().map(|l| cell_spans(l)).collect();
    let cols = spans.first().map_or(0, |h| h.len());
    for (i, s) in spans.iter().enumerate() {
        if s.len() > cols {
            return Err(format!("line {} has {} cells, the header {cols}: {:?}", i + 1, s.len(), lines[i]));
        }
    }
    for c in 0..cols {
        let present: Vec<(usize, usize)> = spans.iter().filter_map(|s| s.get(c).copied()).collect();
        let same_start = present.iter().all(|p| p.0 == present[0].0);
        let same_end = present.iter().all(|p| p.1 == present[0].1);
        if !same_start && !same_end {
            return Err(format!("column {} is neither left- nor right-aligned:\n{text}", c + 1));
        }
    }
    Ok(())
}

/// (start, end) character positions of the cells of one line.
fn cell_spans(line: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = line.chars().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && !(chars[i] == ' ' && chars.get(i + 1).map_or(true, |c| *c == ' ')) {
            i += 1;
        }
        spans.push((start, i));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        let cases = [
            (0.0123456, "0.0123"),
            (4.5601, "4.56"),
            (81.24, "81.2"),
            (123.4, "123"),
            (219_456.7, "219457"),
            (0.0, "0"),
            (-2.345, "-2.35"),
            (9.996, "10.0"),
            (0.99996, "1.00"),
            (0.0999996, "0.100"),
        ];
        for (v, want) in cases {
            assert_eq!(sig(v, 3), want, "{v}");
        }
        assert_eq!(sig(f64::NAN, 3), "-");
        assert_eq!(sig_opt(None, 3), "-");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1792), "1.79 KB");
        assert_eq!(bytes(272_000_000), "272 MB");
        assert_eq!(bytes(999_999), "1.00 MB");
    }

    #[test]
    fn columns_align_under_their_headers() {
        let mut t = Table::new().left("mode").right("step us").left("note").right("GB/s");
        t.push(["eager", "219000", "a b", "0.0123"]);
        t.push(["graph", "1.5", "", "3090"]);
        let s = t.render();
        check_alignment(&s).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "mode   step us  note    GB/s");
        assert_eq!(lines[1], "eager   219000  a b   0.0123");
        assert_eq!(lines[2], "graph      1.5  -       3090");
        // A misaligned table is caught.
        assert!(check_alignment("mode  step\neager  1\ngraph    22\n").is_err());
    }
}
