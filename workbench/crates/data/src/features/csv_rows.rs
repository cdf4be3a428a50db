//! The CSV form of a feature table, written row by row: each value formatted straight into one
//! buffer that goes to the file in large blocks.
//!
//! Why not polars' CSV writer: a table from a capture of short flows (a SYN flood: one row per
//! packet) spent most of its time on the way to polars (a `String` per address, column vectors
//! grown and copied, a `DataFrame` per batch, the serializer threads), more than on the flows
//! themselves. The bytes are exactly what polars writes with its defaults (a test compares the
//! two): a header line, `,` between values, `\n` after each row, integers in decimal, a missing
//! string as nothing, and a string quoted (`"`, doubled inside) only when it holds `,`, `"`,
//! `\n` or `\r`, or is empty.

use std::fs::File;
use std::io::Write;
use std::net::IpAddr;

/// Bytes buffered before a write to the file.
const WRITE_BYTES: usize = 1 << 20;

pub struct CsvRows {
    file: File,
    buf: Vec<u8>,
}

impl CsvRows {
    /// A table whose header names `columns`.
    pub fn new(file: File, columns: &[&str]) -> CsvRows {
        let mut rows = CsvRows {
            file,
            buf: Vec::with_capacity(WRITE_BYTES + (1 << 16)),
        };
        for name in columns {
            rows.str(Some(name));
        }
        rows.end_row_in_buffer();
        rows
    }

    /// An integer value.
    #[inline]
    pub fn int(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(v).as_bytes());
        self.buf.push(b',');
    }

    /// An address, as `IpAddr`'s `Display` writes it (IPv4 dotted decimal, formatted here
    /// without the formatting machinery: two per row).
    #[inline]
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                let mut b = itoa::Buffer::new();
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b'.');
                    }
                    self.buf.extend_from_slice(b.format(octet).as_bytes());
                }
            }
            // Writing into a Vec cannot fail.
            IpAddr::V6(v6) => {
                let _ = write!(self.buf, "{v6}");
            }
        }
        self.buf.push(b',');
    }

    /// A string value; None is a missing value (an empty field).
    pub fn str(&mut self, s: Option<&str>) {
        let Some(s) = s else {
            self.buf.push(b',');
            return;
        };
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            // Quoted, or it would read back as missing.
            self.buf.extend_from_slice(b"\"\"");
        } else if bytes.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.push(b'"');
            for &c in bytes {
                if c == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(c);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(bytes);
        }
        self.buf.push(b',');
    }

    /// Ends the row (every value was followed by a `,`: the last one becomes the line's end).
    fn end_row_in_buffer(&mut self) {
        if let Some(last) = self.buf.last_mut() {
            *last = b'\n';
        }
    }

    /// Ends the row, writing the buffer to the file when it is full.
    pub fn end_row(&mut self) -> std::io::Result<()> {
        self.end_row_in_buffer();
        if self.buf.len() >= WRITE_BYTES {
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Writes what is buffered.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.file.write_all(&self.buf)?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    /// The same values through polars' batched CSV writer (defaults, as the table used before)
    /// and through `CsvRows` give the same bytes: awkward strings, missing ones, negative and
    /// extreme integers, both address families.
    #[test]
    fn rows_are_byte_identical_to_polars_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = ["ip", "n", "s", "weird,name"];
        let ips: Vec<IpAddr> = vec![
            "10.0.0.1".parse().expect("an address"),
            "255.255.255.255".parse().expect("an address"),
            "0.0.0.0".parse().expect("an address"),
            "2001:db8::1".parse().expect("an address"),
            "::ffff:10.1.2.3".parse().expect("an address"),
            "fe80::".parse().expect("an address"),
        ];
        let ns = [0, -1, i64::MAX, i64::MIN, 42, 1_000_000_007];
        let ss = [
            Some("plain"),
            None,
            Some(""),
            Some("a,b"),
            Some("say \"hi\""),
            Some("two\nlines\r"),
        ];
        let ts = [Some("x"), Some("\""), None, Some(" "), Some("é"), Some("")];

        let ours = dir.path().join("ours.csv");
        let mut rows = CsvRows::new(File::create(&ours).expect("test io"), &names);
        for i in 0..ips.len() {
            rows.ip(ips[i]);
            rows.int(ns[i]);
            rows.str(ss[i]);
            rows.str(ts[i]);
            rows.end_row().expect("test io");
        }
        rows.finish().expect("test io");

        let theirs = dir.path().join("polars.csv");
        let schema: Schema = [
            Field::new(names[0].into(), DataType::String),
            Field::new(names[1].into(), DataType::Int64),
            Field::new(names[2].into(), DataType::String),
            Field::new(names[3].into(), DataType::String),
        ]
        .into_iter()
        .collect();
        let mut w = CsvWriter::new(File::create(&theirs).expect("test io"))
            .include_header(true)
            .batched(&schema)
            .expect("test io");
        let ip_text: Vec<String> = ips.iter().map(ToString::to_string).collect();
        let df = DataFrame::new(vec![
            Column::new(names[0].into(), ip_text),
            Column::new(names[1].into(), ns.to_vec()),
            Column::new(names[2].into(), ss.to_vec()),
            Column::new(names[3].into(), ts.to_vec()),
        ])
        .expect("test io");
        w.write_batch(&df).expect("test io");
        w.finish().expect("test io");

        let (a, b) = (
            std::fs::read(&ours).expect("test io"),
            std::fs::read(&theirs).expect("test io"),
        );
        assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        assert_eq!(a, b);
    }

    /// A table without rows is its header line, as polars writes it.
    #[test]
    fn an_empty_table_is_its_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.csv");
        CsvRows::new(File::create(&path).expect("test io"), &["a", "b"])
            .finish()
            .expect("test io");
        assert_eq!(std::fs::read_to_string(&path).expect("test io"), "a,b\n");
    }
}
