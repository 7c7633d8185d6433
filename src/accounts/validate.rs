//! Parse, don't validate: client input becomes these types or a BAD_USER_INPUT.
use chrono::{NaiveDate, Utc};

use crate::error::{AppError, AppResult};

/// A normalised login: a lower-case e-mail address or an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let s = raw.trim();
        if s.contains('@') {
            return Email::parse(s).map(|e| Login(e.0));
        }
        Phone::parse(s).map(|p| Login(p.0)).map_err(|_| {
            AppError::bad_input(
                "login must be an e-mail address or a phone number in international form, e.g. +8613800138000",
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> AppResult<Self> {
        let bad =
            || AppError::bad_input(format!("`{}` is not a valid e-mail address", truncate(s)));
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && s.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && s.chars().all(|c| c.is_ascii_graphic())
            && !local.contains('@')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !ok {
            return Err(bad());
        }
        Ok(Email(s.to_ascii_lowercase()))
    }
}

/// A phone number in E.164 form: `+` and 8 to 15 digits. Spaces, dashes,
/// dots and parentheses are accepted and dropped.
pub struct Phone(String);

impl Phone {
    pub fn parse(s: &str) -> AppResult<Self> {
        let bad = || {
            AppError::bad_input(format!(
                "`{}` is not a phone number in international form, e.g. +8613800138000",
                truncate(s)
            ))
        };
        let rest = s.trim().strip_prefix('+').ok_or_else(bad)?;
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(bad()),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(bad());
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A new password: 8 to 128 characters with at least one letter and one digit.
pub fn password(p: &str) -> AppResult<()> {
    let len = p.chars().count();
    if !(8..=128).contains(&len) {
        return Err(AppError::bad_input(
            "password must be 8 to 128 characters long",
        ));
    }
    if !p.chars().any(char::is_alphabetic) || !p.chars().any(|c| c.is_ascii_digit()) {
        return Err(AppError::bad_input(
            "password must contain at least one letter and one digit",
        ));
    }
    Ok(())
}

/// Trimmed text of 1..=max characters without control characters.
pub fn required_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = optional_text(field, value, max)?;
    if v.is_empty() {
        return Err(AppError::bad_input(format!("{field} must not be empty")));
    }
    Ok(v)
}

/// Trimmed text of 0..=max characters; newlines allowed, other control characters not.
pub fn optional_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "{field} must be at most {max} characters"
        )));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(AppError::bad_input(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(v.to_owned())
}

/// Specialties: at most 20 of at most 50 characters each, no commas (they are stored joined).
pub fn specialties(list: &[String]) -> AppResult<String> {
    if list.len() > 20 {
        return Err(AppError::bad_input("at most 20 specialties"));
    }
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let s = required_text("a specialty", s, 50)?;
        if s.contains(',') {
            return Err(AppError::bad_input("a specialty must not contain a comma"));
        }
        out.push(s);
    }
    Ok(out.join(","))
}

pub fn birth_date(d: NaiveDate) -> AppResult<NaiveDate> {
    let today = Utc::now().date_naive();
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if d > today || d < earliest {
        return Err(AppError::bad_input(
            "birthDate must be between 1900-01-01 and today",
        ));
    }
    Ok(d)
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_normalise() {
        assert_eq!(
            Login::parse(" Alice@Example.COM ").map(|l| l.0).ok(),
            Some("alice@example.com".into())
        );
        assert_eq!(
            Login::parse("+86 138-0013-8000").map(|l| l.0).ok(),
            Some("+8613800138000".into())
        );
        for bad in [
            "",
            "alice",
            "a@b",
            "@x.com",
            "a@.com",
            "a b@x.com",
            "13800138000",
            "+12",
            "+0123456789",
            "+1234abc5678",
        ] {
            assert!(Login::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("abcdefg1").is_ok());
        assert!(password("short1").is_err());
        assert!(password("allletters").is_err());
        assert!(password("12345678").is_err());
        assert!(password(&"a1".repeat(65)).is_err());
    }

    #[test]
    fn texts_and_lists() {
        assert!(required_text("name", "  ", 10).is_err());
        assert_eq!(required_text("name", " Ann ", 10).ok(), Some("Ann".into()));
        assert!(optional_text("bio", "a\u{0}b", 10).is_err());
        assert!(specialties(&["a,b".into()]).is_err());
        assert_eq!(
            specialties(&["x".into(), "y".into()]).ok(),
            Some("x,y".into())
        );
    }
}
