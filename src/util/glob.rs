//! Redis's glob-style pattern matching (`KEYS`, `SCAN MATCH`, ...).
//!
//! Same results as Redis's `stringmatchlen`, quirks included, because
//! clients see them:
//! - `*` any run of bytes, `?` one byte, `\x` the byte `x`;
//! - `[abc]`, `[^abc]`, `[a-z]` (a reversed range `[z-a]` is the same as
//!   `[a-z]`); inside brackets `\x` is `x` matched case-sensitively even
//!   when matching without case;
//! - a `[` without a closing `]` is a class that ends with the pattern, so
//!   `[a` matches `a` and `[^` matches any single byte;
//! - a trailing `\` is a literal backslash;
//! - only the empty pattern matches the empty text (not even `*` does:
//!   callers treat the pattern `*` as "everything" before matching, as
//!   Redis does).
//!
//! Cost is bounded: after the part of the pattern following a `*` failed
//! at every position of the rest of the text, no earlier `*` retries a
//! longer run (so matching is polynomial, not exponential), and patterns
//! that nest more than [`MAX_STAR_DEPTH`] stars match nothing, as in Redis.

/// Stars (each followed by more pattern) beyond which a pattern matches
/// nothing, bounding recursion depth as Redis does.
pub const MAX_STAR_DEPTH: u32 = 1000;

/// True if `text` matches the glob `pattern`; `nocase` compares ASCII
/// letters without case.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut matcher = Matcher { pattern, text, nocase, give_up: false };
    matcher.match_at(0, 0, 0)
}

struct Matcher<'a> {
    pattern: &'a [u8],
    text: &'a [u8],
    nocase: bool,
    /// Set when the rest of the pattern after some `*` matched nowhere in
    /// the remaining text: no longer run for an earlier `*` can help.
    give_up: bool,
}

impl Matcher<'_> {
    /// The pattern byte at `i`, or 0 past the end (the pattern is read as
    /// if it were NUL-terminated, which decides a few edge cases).
    fn pat(&self, i: usize) -> u8 {
        self.pattern.get(i).copied().unwrap_or(0)
    }

    fn same(&self, a: u8, b: u8) -> bool {
        if self.nocase { a.eq_ignore_ascii_case(&b) } else { a == b }
    }

    /// Matches `pattern[p..]` against `text[s..]`; `depth` counts the stars
    /// that led here.
    fn match_at(&mut self, mut p: usize, mut s: usize, depth: u32) -> bool {
        if depth > MAX_STAR_DEPTH {
            return false;
        }
        let (plen, tlen) = (self.pattern.len(), self.text.len());
        while p < plen && s < tlen {
            match self.pattern[p] {
                b'*' => return self.star(p, s, depth),
                b'?' => {}
                b'[' => match self.class(p + 1, self.text[s]) {
                    (true, end) => p = end,
                    (false, _) => return false,
                },
                byte => {
                    let literal = if byte == b'\\' && plen - p >= 2 {
                        p += 1;
                        self.pattern[p]
                    } else {
                        byte
                    };
                    if !self.same(literal, self.text[s]) {
                        return false;
                    }
                }
            }
            p += 1;
            s += 1;
            if s == tlen {
                while self.pat(p) == b'*' {
                    p += 1;
                }
                break;
            }
        }
        p == plen && s == tlen
    }

    /// A `*` at `p` with text left at `s`: tries the rest of the pattern at
    /// every later position.
    fn star(&mut self, mut p: usize, s: usize, depth: u32) -> bool {
        while self.pat(p + 1) == b'*' {
            p += 1;
        }
        if p + 1 == self.pattern.len() {
            return true;
        }
        for start in s..self.text.len() {
            if self.match_at(p + 1, start, depth + 1) {
                return true;
            }
            if self.give_up {
                return false;
            }
        }
        self.give_up = true;
        false
    }

    /// A bracket class starting at `p` (just after `[`) against `byte`.
    /// Returns whether it matched and the index of its last pattern byte
    /// (the `]`, or the pattern's last byte when there is none).
    fn class(&self, mut p: usize, byte: u8) -> (bool, usize) {
        let plen = self.pattern.len();
        let negate = self.pat(p) == b'^';
        if negate {
            p += 1;
        }
        let mut found = false;
        loop {
            let c = self.pat(p);
            if c == b'\\' && plen - p >= 2 {
                p += 1;
                found |= self.pattern[p] == byte;
            } else if c == b']' {
                break;
            } else if p == plen {
                p -= 1;
                break;
            } else if plen - p >= 3 && self.pattern[p + 1] == b'-' {
                let (mut lo, mut hi) = (c, self.pattern[p + 2]);
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                let mut b = byte;
                if self.nocase {
                    lo = lo.to_ascii_lowercase();
                    hi = hi.to_ascii_lowercase();
                    b = b.to_ascii_lowercase();
                }
                p += 2;
                found |= (lo..=hi).contains(&b);
            } else {
                found |= self.same(c, byte);
            }
            p += 1;
        }
        (found != negate, p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        glob_match(pattern.as_bytes(), text.as_bytes(), false)
    }

    #[test]
    fn wildcards() {
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("*", "anything"));
        assert!(m("**", "x"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(m("*a*b*", "xxaxxbxx"));
        assert!(!m("*a*b*", "xxbxxaxx"));
        assert!(m("?*", "ab"));
        assert!(!m("?*", ""));
    }

    #[test]
    fn empty_text_and_pattern() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        // Redis's matcher never enters its loop for an empty text.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("?", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("[z-a]", "b"));
        assert!(!m("[z-a]", "A"));
        assert!(m("[A-Z]", "A"));
        assert!(!m("[A-Z]", "a"));
        // "a-b" is a range, then "-" and "c" are plain members.
        for t in ["a", "b", "-", "c"] {
            assert!(m("[a-b-c]", t), "{t}");
        }
        // "a-]" is read as the range ']'..'a', and the class is unterminated.
        for (t, want) in [("]", true), ("^", true), ("_", true), ("a", true), ("b", false), ("-", false)] {
            assert_eq!(m("[a-]", t), want, "{t}");
        }
    }

    #[test]
    fn odd_brackets() {
        assert!(m("[a", "a"));
        assert!(!m("[a", "b"));
        assert!(!m("[", "["));
        assert!(!m("[", "x"));
        assert!(m("[^", "x"));
        assert!(m("[^", "^"));
        assert!(!m("[]", "]"));
        assert!(!m("[]a]", "a"));
        assert!(!m("[]]", "]"));
        assert!(m("[^]", "x"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\]", "]"));
        assert!(m("[\\", "\\"));
        assert!(!m("[\\", "x"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("x\\*y", "x*y"));
        assert!(m("\\[", "["));
        assert!(m("\\", "\\"));
        assert!(m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
        assert!(m("\\\\", "\\"));
    }

    #[test]
    fn without_case() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"[A-C]x", b"bX", true));
        assert!(glob_match(b"[abc]", b"B", true));
        assert!(glob_match(b"\\A", b"a", true));
        // An escaped byte inside brackets keeps its case.
        assert!(!glob_match(b"[\\A]", b"a", true));
        // Redis swaps a reversed range before lowering it.
        assert!(!glob_match(b"[Z-a]", b"b", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
    }

    #[test]
    fn binary_bytes() {
        assert!(glob_match(b"a\0*", b"a\0zz", false));
        assert!(!glob_match(b"a\0", b"a", false));
        assert!(glob_match(b"[\0-\x02]", b"\x01", false));
        assert!(glob_match(b"\xff?", b"\xff\x00", false));
    }

    #[test]
    fn star_depth_is_bounded() {
        let text = vec![b'a'; 1100];
        // A trailing star matches without recursing, so 1001 stars here
        // make 1000 levels: still matched, as in Redis.
        assert!(glob_match(&b"a*".repeat(1001), &text, false));
        assert!(!glob_match(&b"a*".repeat(1002), &text, false));
        assert!(glob_match(&b"*a".repeat(1000), &text, false));
        assert!(!glob_match(&b"*a".repeat(1001), &text, false));
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let text = vec![b'a'; 5000];
        let mut pattern = b"*a".repeat(500);
        pattern.extend_from_slice(b"b");
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &text, false));
        assert!(!glob_match(&[b'*'; 10_000], b"", false));
        assert!(glob_match(&[b'*'; 10_000], b"a", false));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
