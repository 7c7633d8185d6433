//! Case-document input: content is a JSON object of bounded size and depth
//! whose keys MongoDB could never read as operators or paths.
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{
    error::{AppError, AppResult},
    store::documents::Json,
};

/// Deepest nesting of objects and arrays accepted in `content`.
pub const MAX_DEPTH: usize = 32;
const MAX_KEY_CHARS: usize = 256;

/// Checks `content` and returns it as an object.
pub fn content(value: Value, max_bytes: usize) -> AppResult<Json> {
    let Value::Object(map) = value else {
        return Err(AppError::bad_input("content must be a JSON object"));
    };
    let size = serde_json::to_vec(&map)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max_bytes {
        return Err(AppError::PayloadTooLarge(format!(
            "content is {size} bytes; the limit is {max_bytes}"
        )));
    }
    check(&Value::Object(map.clone()), 1, "content")?;
    Ok(map)
}

fn check(value: &Value, depth: usize, path: &str) -> AppResult<()> {
    if depth > MAX_DEPTH {
        return Err(AppError::bad_input(format!(
            "content is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key.is_empty() || key.starts_with('$') || key.contains('.') || key.contains('\0')
                {
                    return Err(AppError::bad_input(format!(
                        "{path}: key {:?} is not allowed (keys must be non-empty and must not start with `$` or contain `.` or NUL)",
                        key.chars().take(40).collect::<String>()
                    )));
                }
                if key.chars().count() > MAX_KEY_CHARS {
                    return Err(AppError::bad_input(format!(
                        "{path}: keys must be at most {MAX_KEY_CHARS} characters"
                    )));
                }
                check(v, depth + 1, key)?;
            }
        }
        Value::Array(items) => {
            for v in items {
                check(v, depth + 1, path)?;
            }
        }
        Value::String(s) if s.contains('\0') => {
            return Err(AppError::bad_input(format!(
                "{path}: strings must not contain NUL"
            )));
        }
        _ => {}
    }
    Ok(())
}

/// A document kind: 1–64 of `A-Z`, `0-9`, `_`, starting with a letter.
pub fn kind(k: &str) -> AppResult<String> {
    let k = k.trim();
    let ok = (1..=64).contains(&k.len())
        && k.starts_with(|c: char| c.is_ascii_uppercase())
        && k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(AppError::bad_input(
            "kind must be 1 to 64 characters of A-Z, 0-9 and _, starting with a letter (e.g. LAB_RESULT)",
        ));
    }
    Ok(k.to_owned())
}

/// A date a medical event can have happened: from 1900 to one day from now.
pub fn occurred_at(t: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    let earliest = DateTime::from_timestamp(-2_208_988_800, 0).unwrap_or_default(); // 1900-01-01
    if t < earliest || t > Utc::now() + chrono::Duration::days(1) {
        return Err(AppError::bad_input(
            "occurredAt must be between 1900-01-01 and tomorrow",
        ));
    }
    Ok(crate::store::documents::to_millis(t))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_rules() {
        assert!(content(json!({"bp": [120, 80], "notes": {"a": "b"}}), 1000).is_ok());
        assert_eq!(
            content(json!([1]), 1000).err().map(|e| e.code()),
            Some("BAD_USER_INPUT")
        );
        assert_eq!(
            content(json!("x"), 1000).err().map(|e| e.code()),
            Some("BAD_USER_INPUT")
        );
        for bad in [
            json!({"$where": 1}),
            json!({"a.b": 1}),
            json!({"a": {"$gt": 1}}),
            json!({"a\u{0}": 1}),
            json!({"": 1}),
        ] {
            assert_eq!(
                content(bad.clone(), 1000).err().map(|e| e.code()),
                Some("BAD_USER_INPUT"),
                "{bad}"
            );
        }
        assert_eq!(
            content(json!({"a": "x".repeat(2000)}), 1000)
                .err()
                .map(|e| e.code()),
            Some("PAYLOAD_TOO_LARGE")
        );
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "d": deep });
        }
        assert_eq!(
            content(deep, 100_000).err().map(|e| e.code()),
            Some("BAD_USER_INPUT")
        );
    }

    #[test]
    fn kinds() {
        assert!(kind("LAB_RESULT").is_ok());
        assert!(kind("lab").is_err());
        assert!(kind("1X").is_err());
        assert!(kind("").is_err());
    }
}
