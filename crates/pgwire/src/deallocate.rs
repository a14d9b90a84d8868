//! `DEALLOCATE`: the one SQL statement this crate recognizes, because what it acts on
//! lives here. Prepared statements are the connection's (`pgwire`'s portal store), not
//! the backend's, so the backend could not drop them. Drivers send it: psycopg 3 runs
//! `DEALLOCATE ALL` after a `ROLLBACK` or a `DROP`/`ALTER` once it has prepared
//! statements, and `DEALLOCATE name` to evict one.
//!
//! The grammar is Postgres': `DEALLOCATE [ PREPARE ] { name | ALL }`, with optional
//! trailing semicolons, comments and any whitespace. `name` is an identifier: unquoted
//! ones are folded to lower case (ASCII only, as Postgres does), quoted ones keep their
//! case with `""` for a quote, and both are truncated to 63 bytes. Anything else —
//! including a query string holding `DEALLOCATE` and other statements — is not
//! recognized and goes to the backend like any statement.

/// What a recognized `DEALLOCATE` drops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Deallocate {
    /// `DEALLOCATE ALL`: every named prepared statement (not the unnamed one).
    All,
    /// `DEALLOCATE name`.
    Name(String),
}

impl Deallocate {
    /// The command tag Postgres answers with.
    pub(crate) fn tag(&self) -> &'static str {
        match self {
            Deallocate::All => "DEALLOCATE ALL",
            Deallocate::Name(_) => "DEALLOCATE",
        }
    }
}

/// Postgres' identifier length limit (NAMEDATALEN - 1), in bytes.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// One token of the statement: a word (unquoted identifier or keyword, as written) or a
/// quoted identifier (unescaped), or a semicolon.
#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Semicolon,
}

/// `sql` as a `DEALLOCATE` statement, or `None` if it is anything else.
pub(crate) fn parse(sql: &str) -> Option<Deallocate> {
    let tokens = tokenize(sql)?;
    // Semicolons may surround the statement, but not split it in two.
    let start = tokens.iter().position(|t| *t != Token::Semicolon)?;
    let end = tokens.iter().rposition(|t| *t != Token::Semicolon)? + 1;
    let statement = &tokens[start..end];
    if statement.contains(&Token::Semicolon) {
        return None;
    }
    let is_keyword =
        |t: &Token, keyword: &str| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case(keyword));
    let (first, rest) = statement.split_first()?;
    if !is_keyword(first, "deallocate") {
        return None;
    }
    let target = match rest {
        [target] => target,
        [prepare, target] if is_keyword(prepare, "prepare") => target,
        _ => return None,
    };
    match target {
        Token::Word(w) if w.eq_ignore_ascii_case("all") => Some(Deallocate::All),
        Token::Word(w) => Some(Deallocate::Name(truncate(w.to_ascii_lowercase()))),
        Token::Quoted(q) => Some(Deallocate::Name(truncate(q.clone()))),
        Token::Semicolon => None,
    }
}

/// Splits `sql` into tokens, skipping whitespace and comments; `None` at anything that
/// cannot be part of a `DEALLOCATE` (an operator, a string literal, an unterminated
/// quote or comment, an empty quoted identifier).
fn tokenize(sql: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ';' => tokens.push(Token::Semicolon),
            '-' if chars.peek().map(|&(_, c)| c) == Some('-') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().map(|&(_, c)| c) == Some('*') => {
                chars.next();
                // Postgres' block comments nest.
                let mut depth = 1;
                let mut prev = '\0';
                while depth > 0 {
                    let (_, c) = chars.next()?;
                    match (prev, c) {
                        ('/', '*') => {
                            depth += 1;
                            prev = '\0';
                            continue;
                        }
                        ('*', '/') => {
                            depth -= 1;
                            prev = '\0';
                            continue;
                        }
                        _ => {}
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut ident = String::new();
                loop {
                    let (_, c) = chars.next()?;
                    if c == '"' {
                        if chars.peek().map(|&(_, c)| c) == Some('"') {
                            chars.next();
                            ident.push('"');
                        } else {
                            break;
                        }
                    } else {
                        ident.push(c);
                    }
                }
                if ident.is_empty() {
                    return None;
                }
                tokens.push(Token::Quoted(ident));
            }
            c if c == '_' || c.is_alphabetic() => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, c)) = chars.peek() {
                    if c == '_' || c == '$' || c.is_alphanumeric() {
                        end = i + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word(sql[start..end].to_string()));
            }
            _ => return None,
        }
    }
    Some(tokens)
}

/// Truncates an identifier to Postgres' limit, at a character boundary.
fn truncate(mut ident: String) -> String {
    if ident.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !ident.is_char_boundary(end) {
            end -= 1;
        }
        ident.truncate(end);
    }
    ident
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Option<Deallocate> {
        Some(Deallocate::Name(n.into()))
    }

    #[test]
    fn recognizes_postgres_forms() {
        assert_eq!(parse("DEALLOCATE ALL"), Some(Deallocate::All));
        assert_eq!(parse("deallocate prepare all;"), Some(Deallocate::All));
        assert_eq!(parse("DEALLOCATE _pg3_0"), name("_pg3_0"));
        assert_eq!(parse("  Deallocate Prepare Stmt1 ;; "), name("stmt1"));
        assert_eq!(parse("DEALLOCATE \"All\""), name("All"));
        assert_eq!(parse("DEALLOCATE \"a\"\"b\""), name("a\"b"));
        assert_eq!(parse("DEALLOCATE \"all\""), name("all"));
        assert_eq!(parse("DEALLOCATE PREPARE"), name("prepare"));
        assert_eq!(parse("DEALLOCATE q$1"), name("q$1"));
        assert_eq!(
            parse("-- psycopg\nDEALLOCATE /* a /* nested */ comment */ ALL"),
            Some(Deallocate::All)
        );
        assert_eq!(
            parse(&format!("DEALLOCATE {}", "x".repeat(70))),
            name(&"x".repeat(63))
        );
        assert_eq!(parse("DEALLOCATE ÉTÉ"), name("ÉtÉ"), "only ASCII folds");
    }

    #[test]
    fn leaves_everything_else_to_the_backend() {
        for sql in [
            "",
            ";",
            "DEALLOCATE",
            "DEALLOCATE a b",
            "DEALLOCATE ALL; SELECT 1",
            "SELECT 1; DEALLOCATE ALL",
            "DEALLOCATE 'a'",
            "DEALLOCATE \"\"",
            "DEALLOCATE \"a",
            "DEALLOCATE a /* unterminated",
            "DEALLOCATE 1",
            "DEALLOCATE a.b",
            "DEALLOCATEALL",
            "PREPARE q AS SELECT 1",
            "DISCARD ALL",
        ] {
            assert_eq!(parse(sql), None, "{sql:?}");
        }
    }

    #[test]
    fn tags() {
        assert_eq!(Deallocate::All.tag(), "DEALLOCATE ALL");
        assert_eq!(Deallocate::Name("s".into()).tag(), "DEALLOCATE");
    }
}
