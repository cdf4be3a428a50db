//! A block of plain CSV lines straight into typed columns, for the common case only: no quotes,
//! no carriage returns, no leading blanks, every line with exactly the header's fields. Anything
//! else, and any value that does not parse, returns None and `csv_blocks` hands the block to
//! polars' reader, so the result is the same table polars gives, bit for bit (the parity test
//! below checks it on generated blocks).
//!
//! Why: polars' reader spent about 18 ns per field on the 2.8-million-row file (line counting,
//! field splitting, a builder call and `fast_float2` per value), most of the first load. A
//! CIC-IDS2017 table is nearly all short integers; read digit by digit in the same pass that
//! finds the separator, an integer of up to 15 digits is exact as an f64, the same value
//! `fast_float2` (polars' own float parser, called here for every other number) gives.

use polars::prelude::*;
use polars_arrow::bitmap::MutableBitmap;

/// One column being filled.
enum Builder {
    Number {
        values: Vec<f64>,
        /// Created at the first empty field (most columns have none).
        validity: Option<MutableBitmap>,
    },
    Text(StringChunkedBuilder),
    /// A column not asked for (a projection): its fields are only walked over, never stored.
    Skip,
}

impl Builder {
    fn null(&mut self) {
        match self {
            Builder::Number { values, validity } => {
                let v = validity.get_or_insert_with(|| {
                    let mut m = MutableBitmap::with_capacity(values.capacity());
                    m.extend_constant(values.len(), true);
                    m
                });
                v.push(false);
                values.push(0.0);
            }
            Builder::Text(b) => b.append_null(),
            Builder::Skip => {}
        }
    }
}

/// Where the field starting at `pos` ends: the next separator or line break, or the end.
#[inline]
fn field_end(bytes: &[u8], pos: usize, sep: u8) -> usize {
    bytes[pos..]
        .iter()
        .position(|&b| b == sep || b == b'\n')
        .map_or(bytes.len(), |i| pos + i)
}

/// 10^0 to 10^15, each exact as an f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Whether the field ends at `at`: a separator, a line break, or the end of the block.
#[inline]
fn ends_field(bytes: &[u8], at: usize, sep: u8) -> bool {
    bytes.get(at).is_none_or(|&b| b == sep || b == b'\n')
}

/// The decimal digits from `at` appended to `acc` (wrapping: callers accept at most 15 digits
/// in all, which cannot overflow); returns the new value and where the digits end.
#[inline]
fn digits(bytes: &[u8], mut at: usize, mut acc: u64) -> (u64, usize) {
    while let Some(&b) = bytes.get(at) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        acc = acc.wrapping_mul(10).wrapping_add(u64::from(d));
        at += 1;
    }
    (acc, at)
}

/// The number in `bytes` from `pos`: (value or None for an empty field, end of the field);
/// Err(()) where polars' reader must decide (a leading blank, a carriage return, not a number).
#[inline]
fn number(bytes: &[u8], pos: usize, sep: u8) -> Result<(Option<f64>, usize), ()> {
    let mut i = pos;
    let negative = bytes.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let digits_start = i;
    // 15 digits at most (checked below): no overflow.
    let (acc, i) = digits(bytes, i, 0);
    let whole_digits = i - digits_start;
    let at_end = ends_field(bytes, i, sep);
    if at_end && (1..=15).contains(&whole_digits) {
        // Below 2^53: exact, as fast_float2's correctly rounded result is.
        let v = acc as f64;
        return Ok((Some(if negative { -v } else { v }), i));
    }
    if !at_end && whole_digits >= 1 && bytes.get(i) == Some(&b'.') {
        // `363636.3636`, `0.0`: digits, a point, digits. With at most 15 digits in all the
        // mantissa is exact, and so is 10^k; one division rounds once, correctly: the value a
        // correctly rounded parser gives (Clinger's fast path, which fast_float2 takes too).
        let fraction_start = i + 1;
        let (mantissa, j) = digits(bytes, fraction_start, acc);
        let fraction = j - fraction_start;
        if ends_field(bytes, j, sep) && fraction >= 1 && whole_digits + fraction <= 15 {
            let v = mantissa as f64 / POW10[fraction];
            return Ok((Some(if negative { -v } else { v }), j));
        }
    }
    let end = if at_end { i } else { field_end(bytes, i, sep) };
    let field = &bytes[pos..end];
    match field.first() {
        None => Ok((None, end)),
        Some(&b) if b <= b' ' => Err(()),
        Some(_) if field.last() == Some(&b'\r') => Err(()),
        Some(_) => fast_float2::parse::<f64, _>(field)
            .map(|v| (Some(v), end))
            .map_err(|_| ()),
    }
}

/// The block (whole lines, `skip` of them skipped first) as a table of `schema`'s Float64 and
/// String columns, or None when it is not plain CSV this reader takes on. `keep`: per column of
/// `schema`, whether it is in the table (None: all); the others are walked over, so the lines
/// are checked as a whole (their field count) all the same.
pub(super) fn parse_plain(
    bytes: &[u8],
    schema: &Schema,
    skip: usize,
    sep: u8,
    keep: Option<&[bool]>,
) -> Option<DataFrame> {
    let mut pos = 0;
    for _ in 0..skip {
        pos = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
    }
    let body = &bytes[pos..];
    // Quotes, a byte-order mark (polars drops it from the first field) and one-column tables
    // (where a blank line is a row) are polars' to read.
    if body.contains(&b'"')
        || body.starts_with(b"\xEF\xBB\xBF")
        || schema.len() < 2
        || sep == b'\n'
        || sep == b'-'
        || sep.is_ascii_digit()
    {
        return None;
    }
    let rows =
        body.iter().filter(|&&b| b == b'\n').count() + usize::from(body.last().is_some_and(|&b| b != b'\n'));
    let mut columns: Vec<Builder> = schema
        .iter()
        .enumerate()
        .map(|(i, (name, dtype))| match dtype {
            _ if keep.is_some_and(|k| !k.get(i).copied().unwrap_or(true)) => Some(Builder::Skip),
            DataType::Float64 => Some(Builder::Number {
                values: Vec::with_capacity(rows),
                validity: None,
            }),
            DataType::String => Some(Builder::Text(StringChunkedBuilder::new(name.clone(), rows))),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let width = columns.len();
    let mut at = 0;
    while at < body.len() {
        for (ci, col) in columns.iter_mut().enumerate() {
            let end = match col {
                Builder::Number { values, validity } => match number(body, at, sep).ok()? {
                    (Some(v), end) => {
                        values.push(v);
                        if let Some(m) = validity {
                            m.push(true);
                        }
                        end
                    }
                    (None, end) => {
                        col.null();
                        end
                    }
                },
                Builder::Text(b) => {
                    let end = field_end(body, at, sep);
                    let field = &body[at..end];
                    match field.last() {
                        None => b.append_null(),
                        Some(&b'\r') => return None,
                        Some(_) => b.append_value(String::from_utf8_lossy(field)),
                    }
                    end
                }
                Builder::Skip => field_end(body, at, sep),
            };
            // A separator after every field but the last, a line break (or the end) after it.
            let last = ci + 1 == width;
            match body.get(end) {
                Some(&b) if b == sep && !last => at = end + 1,
                Some(b'\n') if last => at = end + 1,
                None if last => at = end,
                _ => return None,
            }
        }
    }
    let cols: Vec<Column> = columns
        .into_iter()
        .zip(schema.iter_names())
        .filter_map(|(col, name)| match col {
            Builder::Number { values, validity } => Some(
                Float64Chunked::from_vec_validity(name.clone(), values, validity.map(Into::into))
                    .into_series()
                    .into(),
            ),
            Builder::Text(b) => Some(b.finish().into_series().into()),
            Builder::Skip => None,
        })
        .collect();
    DataFrame::new(cols).ok()
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// What polars' reader makes of the same block with the same options as `csv_blocks`.
    fn polars_read(bytes: &[u8], schema: &SchemaRef, skip: usize) -> PolarsResult<DataFrame> {
        CsvReadOptions::default()
            .with_has_header(false)
            .with_skip_rows(skip)
            .with_schema(Some(schema.clone()))
            .with_raise_if_empty(false)
            .with_parse_options(crate::dataset::csv_read::parse_options(b','))
            .into_reader_with_file_handle(Cursor::new(bytes))
            .finish()
    }

    /// Deterministic pseudo-random numbers (no dependency for a test).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    const NUMBERS: [&str; 32] = [
        "0",
        "7",
        "-0",
        "-12",
        "123456789012345",
        "1234567890123456",
        "99999999999999999999",
        "6.0",
        "-3.25",
        "1e5",
        "1E-3",
        "+4",
        ".5",
        "5.",
        "Infinity",
        "-Infinity",
        "NaN",
        "inf",
        "",
        "007",
        "0.1",
        "363636.3636",
        "2.309401077",
        "-0.0",
        "0.000001234",
        "1234567.89012345",
        "1234567.890123456",
        "9007199254740993.0",
        "0.30000000000000004",
        "-7e-3",
        "4294967295",
        "1.7976931348623157e308",
    ];
    const ODD: [&str; 7] = [" 5", "5 ", "5\r", "x1", "0x1f", "1,5", "-"];

    #[test]
    fn plain_blocks_give_polars_table_bit_for_bit() {
        let schema: SchemaRef = Arc::new(Schema::from_iter([
            Field::new("a".into(), DataType::Float64),
            Field::new("b".into(), DataType::Float64),
            Field::new("Label".into(), DataType::String),
        ]));
        let mut rng = Lcg(2017);
        let (mut agreed, mut declined) = (0, 0);
        for case in 0..400 {
            let mut text = String::from("a,b,Label\n");
            // Some blocks of hundreds of lines, nulls among them.
            let lines = 1 + rng.next() % if case % 4 == 0 { 700 } else { 40 };
            for l in 0..lines {
                let pick = |rng: &mut Lcg| {
                    if case % 5 == 0 && rng.next().is_multiple_of(30) {
                        ODD[rng.next() as usize % ODD.len()]
                    } else {
                        NUMBERS[rng.next() as usize % NUMBERS.len()]
                    }
                };
                let a = pick(&mut rng);
                let b = pick(&mut rng);
                let label =
                    ["BENIGN", "DoS Hulk", "", "Web Attack \u{2013} XSS", "x"][rng.next() as usize % 5];
                text.push_str(&format!("{a},{b},{label}"));
                if l + 1 < lines || case % 3 != 0 {
                    text.push('\n');
                }
            }
            let mut bytes = text.into_bytes();
            if case % 7 == 0 {
                // A label byte that is not UTF-8 (CIC's cp1252 dash).
                if let Some(p) = bytes.iter().rposition(|&b| b == b'x') {
                    bytes[p] = 0x96;
                }
            }
            let ours = parse_plain(&bytes, &schema, 1, b',', None);
            let theirs = polars_read(&bytes, &schema, 1);
            match (ours, theirs) {
                (Some(o), Ok(t)) => {
                    assert!(o.equals_missing(&t), "case {case}: {o:?} vs {t:?}");
                    // equals_missing treats NaN = NaN and 0.0 = -0.0: compare the bits too.
                    for name in ["a", "b"] {
                        let bits = |f: &DataFrame| -> Vec<Option<u64>> {
                            f.column(name)
                                .expect("col")
                                .f64()
                                .expect("f64")
                                .iter()
                                .map(|v| v.map(f64::to_bits))
                                .collect()
                        };
                        assert_eq!(bits(&o), bits(&t), "case {case}, column {name}");
                    }
                    agreed += 1;
                }
                (Some(o), Err(e)) => panic!("case {case}: we read {o:?}, polars refused: {e}"),
                (None, _) => declined += 1,
            }
        }
        eprintln!("agreed {agreed}, declined {declined}");
        // Both kinds happen: most blocks are read here, the odd ones go to polars.
        assert!(
            agreed > 250 && declined > 20,
            "agreed {agreed}, declined {declined}"
        );
    }

    /// Integers and decimals of up to 17 digits, signed or not: the digit-by-digit values and
    /// fast_float2's are the same bits (or we leave the value to fast_float2 itself).
    #[test]
    fn short_integers_and_decimals_are_the_bits_fast_float2_gives() {
        let mut rng = Lcg(6);
        for _ in 0..200_000 {
            let digits = 1 + rng.next() as usize % 17;
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + (rng.next() % 10) as u8))
                .collect();
            if !rng.next().is_multiple_of(3) && digits > 1 {
                let point = 1 + rng.next() as usize % (digits - 1);
                text.insert(point, '.');
            }
            if rng.next().is_multiple_of(2) {
                text.insert(0, '-');
            }
            let field = format!("{text},");
            let (ours, end) = number(field.as_bytes(), 0, b',').expect("a number");
            let theirs: f64 = fast_float2::parse(&text).expect("fast_float2");
            assert_eq!(end, text.len(), "{text}");
            assert_eq!(ours.map(f64::to_bits), Some(theirs.to_bits()), "{text}");
        }
    }

    #[test]
    fn ragged_and_blank_lines_are_left_to_polars() {
        let schema = Schema::from_iter([
            Field::new("a".into(), DataType::Float64),
            Field::new("b".into(), DataType::Float64),
        ]);
        for text in [
            "1,2\n3\n",
            "1,2\n3,4,5\n",
            "1,2\n\n3,4\n",
            "1,2\r\n",
            "\"1\",2\n",
            "1,2\n 3,4\n",
        ] {
            assert!(
                parse_plain(text.as_bytes(), &schema, 0, b',', None).is_none(),
                "{text:?}"
            );
        }
        let f = parse_plain(b"1,\n,4", &schema, 0, b',', None).expect("plain");
        assert_eq!(f.column("a").expect("a").null_count(), 1);
        assert_eq!(f.column("b").expect("b").f64().expect("f64").get(1), Some(4.0));
    }
}
