//! Checks JSON values against docs/schema/eve-verdict.schema.json by hand: the keywords that
//! schema uses (`type`, `required`, `properties`, `additionalProperties: false`, `enum`,
//! `anyOf`, `minimum`, `maximum`, `minLength`, `maxLength`, `format` date-time, ipv4 and ipv6), and a failure for
//! any other keyword, so that the schema cannot grow a rule this check would silently skip.
//! A full validator crate (`jsonschema` 0.61) was not taken: by default it brings reqwest and
//! rustls with aws-lc-rs, and even without them fancy-regex, regex, fraction/num, ahash, strum and
//! uuid-simd, several shared with polars, whose features would be unified again (docs/EVENTS.md).

use serde_json::Value;

/// The schema as kept in the repository.
pub fn schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schema/eve-verdict.schema.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"))
}

/// Every violation of `schema` by `value`, each naming the JSON pointer where it is.
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, value, "", &mut out);
    out
}

/// Panics with every violation when `line` is not JSON or does not match the schema.
pub fn assert_valid_line(schema: &Value, line: &str) -> Value {
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let v = violations(schema, &value);
    assert!(v.is_empty(), "{line}\ndoes not match the schema: {v:?}");
    value
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema names an unknown type {other:?}"),
    }
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`, fields in range.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(u32::MAX);
    if b.len() < 20
        || !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10))
        || !matches!(b[10], b'T' | b't')
        || !(digits(11..13) && b[13] == b':' && digits(14..16) && b[16] == b':' && digits(17..19))
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7)) || !(1..=31).contains(&num(8..10)) {
        return false;
    }
    if num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 60 {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &s[i..] {
        "Z" | "z" => true,
        off => {
            let o = off.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
                && off[1..3].parse::<u32>().is_ok_and(|h| h <= 23)
                && off[4..6].parse::<u32>().is_ok_and(|m| m <= 59)
        }
    }
}

fn check(schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(rules) = schema.as_object() else {
        panic!("schema at {at:?} is not an object");
    };
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" => {}
            "type" => {
                let names: Vec<&str> = match rule {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("schema at {at:?}: `type` is neither a string nor a list"),
                };
                if !names.iter().any(|n| type_matches(n, v)) {
                    out.push(format!("{at}: {v} is not of type {names:?}"));
                }
            }
            "required" => {
                for key in rule.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if v.is_object() && v.get(key).is_none() {
                        out.push(format!("{at}: required key {key:?} is missing"));
                    }
                }
            }
            "properties" => {
                if let (Some(props), Some(obj)) = (rule.as_object(), v.as_object()) {
                    for (key, sub) in props {
                        if let Some(child) = obj.get(key) {
                            check(sub, child, &format!("{at}/{key}"), out);
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(
                    rule,
                    &Value::Bool(false),
                    "only additionalProperties: false is checked"
                );
                let known = rules.get("properties").and_then(Value::as_object);
                for key in v.as_object().into_iter().flat_map(|o| o.keys()) {
                    if !known.is_some_and(|k| k.contains_key(key)) {
                        out.push(format!("{at}: key {key:?} is not in the schema"));
                    }
                }
            }
            "anyOf" => {
                let subs = rule.as_array().expect("anyOf is a list");
                let failures: Vec<Vec<String>> = subs
                    .iter()
                    .map(|sub| {
                        let mut o = Vec::new();
                        check(sub, v, at, &mut o);
                        o
                    })
                    .collect();
                if failures.iter().all(|f| !f.is_empty()) {
                    out.push(format!("{at}: {v} matches none of anyOf: {failures:?}"));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|a| a.contains(v)) {
                    out.push(format!("{at}: {v} is not one of {rule}"));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(x), Some(limit)) = (v.as_f64(), rule.as_f64()) {
                    // Integers compared as integers: 2^53 - 1 is exact in neither direction as f64.
                    let below = match (v.as_u64(), rule.as_u64()) {
                        (Some(a), Some(b)) => a < b,
                        _ => x < limit,
                    };
                    let above = match (v.as_u64(), rule.as_u64()) {
                        (Some(a), Some(b)) => a > b,
                        _ => x > limit,
                    };
                    if (keyword == "minimum" && below) || (keyword == "maximum" && above) {
                        out.push(format!("{at}: {v} is past the {keyword} {rule}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(s), Some(n)) = (v.as_str(), rule.as_u64()) {
                    let len = s.chars().count() as u64;
                    if (keyword == "minLength" && len < n) || (keyword == "maxLength" && len > n) {
                        out.push(format!("{at}: {v} breaks {keyword} {n}"));
                    }
                }
            }
            "format" => {
                if let Some(s) = v.as_str() {
                    let ok = match rule.as_str() {
                        Some("date-time") => is_rfc3339(s),
                        Some("ipv4") => s.parse::<std::net::Ipv4Addr>().is_ok(),
                        Some("ipv6") => s.parse::<std::net::Ipv6Addr>().is_ok(),
                        other => panic!("schema at {at:?}: format {other:?} is not checked"),
                    };
                    if !ok {
                        out.push(format!("{at}: {v} is not a valid {rule}"));
                    }
                }
            }
            "items" => {
                for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                    check(rule, item, &format!("{at}/{i}"), out);
                }
            }
            "minItems" | "maxItems" => {
                if let (Some(a), Some(n)) = (v.as_array(), rule.as_u64()) {
                    let len = a.len() as u64;
                    if (keyword == "minItems" && len < n) || (keyword == "maxItems" && len > n) {
                        out.push(format!("{at}: {v} breaks {keyword} {n}"));
                    }
                }
            }
            other => panic!("schema at {at:?} uses the keyword {other:?}, which this check does not know"),
        }
    }
}
