//! Redis's glob-style pattern matching (`KEYS`, `CONFIG GET`,
//! `COMMAND LIST FILTERBY PATTERN`), with the same corner cases as its
//! `stringmatchlen`: `*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes, and an
//! unterminated `[` that matches as if closed at the end of the pattern. Like
//! Redis, only an empty pattern matches an empty text.

/// True if `text` matches the glob `pattern`. With `nocase`, ASCII letters
/// compare case-insensitively.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut give_up = false;
    match_from(pattern, text, nocase, &mut give_up)
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase { c.to_ascii_lowercase() } else { c }
}

/// `give_up` is set once a `*` failed to match the rest of the text from
/// every position: an earlier `*` cannot do better by consuming more, so
/// the search stops there (this keeps pathological patterns linear-ish).
fn match_from(mut p: &[u8], mut s: &[u8], nocase: bool, give_up: &mut bool) -> bool {
    while !p.is_empty() && !s.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                while !s.is_empty() {
                    if match_from(&p[1..], s, nocase, give_up) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                    s = &s[1..];
                }
                *give_up = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                let (matched, rest) = match_class(&p[1..], s[0], nocase);
                if !matched {
                    return false;
                }
                // `rest` starts at the closing `]` (or is empty when the
                // class ran to the end of the pattern).
                p = rest;
                s = &s[1..];
                if p.is_empty() {
                    break;
                }
            }
            b'\\' if p.len() >= 2 => {
                if fold(p[1], nocase) != fold(s[0], nocase) {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
            c => {
                if fold(c, nocase) != fold(s[0], nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// Matches one character against a `[...]` class; `p` starts just after
/// the `[`. Returns whether it matched and the pattern from the closing
/// `]` on (empty if the class is unterminated).
fn match_class(mut p: &[u8], c: u8, nocase: bool) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        match p {
            [] => break,
            [b'\\', escaped, ..] => {
                if *escaped == c {
                    matched = true;
                }
                p = &p[2..];
            }
            [b']', ..] => break,
            [start, b'-', end, ..] => {
                let (mut lo, mut hi) = (*start, *end);
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                let ch = fold(c, nocase);
                if ch >= fold(lo, nocase) && ch <= fold(hi, nocase) {
                    matched = true;
                }
                p = &p[3..];
            }
            [other, ..] => {
                if fold(*other, nocase) == fold(c, nocase) {
                    matched = true;
                }
                p = &p[1..];
            }
        }
    }
    (matched != negate, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn stars_and_questions() {
        // As in Redis, a pattern never matches an empty text unless it is
        // empty too (`KEYS *` special-cases a lone star before matching).
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(!m("a*b*c", "aXbY"));
        assert!(m("a**", "a"));
        assert!(m("maxmemory*", "maxmemory"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("a", ""));
        assert!(m("a*", "a"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h[\\]]llo", "h]llo"));
        // An unterminated class runs to the end of the pattern.
        assert!(m("h[el", "hl"));
        assert!(!m("h[el", "hx"));
        assert!(!m("a[", "a["));
        assert!(m("a[[]", "a["));
    }

    #[test]
    fn escapes_and_case() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "aXb"));
        assert!(m("a\\", "a\\"));
        assert!(glob_match(b"MaxMemory-P*", b"maxmemory-policy", true));
        assert!(!glob_match(b"MaxMemory-P*", b"maxmemory-policy", false));
        assert!(glob_match(b"[A-C]x", b"bx", true));
    }

    #[test]
    fn pathological_patterns_finish() {
        let text = "a".repeat(60);
        let pattern = format!("{}b", "a*".repeat(30));
        assert!(!m(&pattern, &text));
    }
}
