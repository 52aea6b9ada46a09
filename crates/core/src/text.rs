//! Text both engines can store: no NUL character (PostgreSQL refuses it in `TEXT`), and no
//! longer than the field's documented limit (a unique index on PostgreSQL holds at most
//! about 2,700 bytes per entry, so every indexed text is bounded well below that).

use crate::error::Problem;

/// `value` has no NUL and at most `max_chars` characters.
pub fn check(value: &str, max_chars: usize) -> Result<(), Problem> {
    no_nul(value)?;
    if value.chars().count() > max_chars { Err(Problem::TooLong { max: max_chars }) } else { Ok(()) }
}

/// `value` has no NUL character.
pub fn no_nul(value: &str) -> Result<(), Problem> {
    if value.contains('\0') { Err(Problem::NulCharacter) } else { Ok(()) }
}

/// Trimmed, 1..=`max_chars` characters, no NUL: a name or a label.
pub fn label(value: &str, max_chars: usize) -> Result<String, Problem> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Problem::TooShort { min: 1 });
    }
    check(trimmed, max_chars)?;
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(check("ab", 2), Ok(()));
        assert_eq!(check("abc", 2), Err(Problem::TooLong { max: 2 }));
        assert_eq!(check("a\0", 5), Err(Problem::NulCharacter));
        assert_eq!(label("  é ", 1), Ok("é".to_string()));
        assert_eq!(label("   ", 5), Err(Problem::TooShort { min: 1 }));
        assert_eq!(label(" a\0b ", 5), Err(Problem::NulCharacter));
    }
}
