//! Relay-style pagination helpers: page sizes with a default and a maximum,
//! and opaque keyset cursors. Lists never use OFFSET: a cursor names the last
//! key seen and the next page starts after it, so page 2,000 costs what page 1 does.
use base64::Engine as _;

use crate::error::{AppError, AppResult};

/// How many rows to fetch: `first` if given, else the default; over the maximum
/// or negative is BAD_USER_INPUT.
pub fn page_size(first: Option<i32>, default: usize, max: usize) -> AppResult<u64> {
    match first {
        None => Ok(default as u64),
        Some(n) if n < 0 => Err(AppError::bad_input("`first` must not be negative")),
        Some(n) if n as usize > max => Err(AppError::bad_input(format!(
            "`first` must be at most {max}"
        ))),
        Some(n) => Ok(n as u64),
    }
}

/// An opaque cursor for `key` in a list of `kind`.
pub fn encode_cursor(kind: &str, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// The key inside a cursor made by [`encode_cursor`] for the same `kind`.
pub fn decode_cursor(kind: &str, cursor: &str) -> AppResult<String> {
    let bad = || AppError::bad_input("malformed cursor: pass back a cursor this list returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let key = text
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix(':'))
        .ok_or_else(bad)?;
    Ok(key.to_owned())
}

/// A cursor whose key is an id.
pub fn decode_id_cursor(kind: &str, cursor: &str) -> AppResult<i64> {
    decode_cursor(kind, cursor)?
        .parse()
        .map_err(|_| AppError::bad_input("malformed cursor: pass back a cursor this list returned"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let c = encode_cursor("doctor", "42");
        assert_eq!(decode_id_cursor("doctor", &c).ok(), Some(42));
        assert!(decode_cursor("patient", &c).is_err());
        assert!(decode_cursor("doctor", "!!!").is_err());
        assert!(decode_id_cursor("doctor", &encode_cursor("doctor", "x")).is_err());
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None, 20, 100).ok(), Some(20));
        assert_eq!(page_size(Some(100), 20, 100).ok(), Some(100));
        assert!(page_size(Some(101), 20, 100).is_err());
        assert!(page_size(Some(-1), 20, 100).is_err());
    }
}
