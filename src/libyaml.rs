//! The bytes libyaml-safer is given. libyaml (and go-yaml, its Go port) reads text that does not
//! start with a byte order mark as UTF-8; libyaml-safer 0.3 instead refuses as an "invalid byte
//! order marker" every text whose first byte is 0xEF, which is how UTF-8 writes the characters
//! U+F000 to U+FFFF (a key `"\u{fffc}x"` emitted plain, say). Such a text is handed over behind
//! a UTF-8 byte order mark, which every reader skips, so it reads as libyaml reads it.

use std::borrow::Cow;

const BOM_UTF8: &[u8] = b"\xef\xbb\xbf";

/// `bytes`, behind a UTF-8 byte order mark where libyaml-safer would refuse them without one.
#[must_use]
pub fn input(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.first() == Some(&0xef) && !bytes.starts_with(BOM_UTF8) {
        Cow::Owned([BOM_UTF8, bytes].concat())
    } else {
        Cow::Borrowed(bytes)
    }
}

#[cfg(test)]
mod tests {
    use libyaml_safer::{EventData, Parser};

    fn scalars(text: &str) -> Vec<String> {
        let bytes = super::input(text.as_bytes());
        let mut slice: &[u8] = &bytes;
        let mut parser = Parser::new();
        parser.set_input_string(&mut slice);
        parser
            .map(|e| e.expect("the text reads"))
            .filter_map(|e| match e.data {
                EventData::Scalar { value, .. } => Some(value),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_text_starting_with_a_character_from_u_f000_reads_as_utf8() {
        assert_eq!(scalars("\u{fffc}!: x\n"), ["\u{fffc}!", "x"]);
        assert_eq!(scalars("\u{f000}\n"), ["\u{f000}"]);
    }

    #[test]
    fn a_byte_order_mark_is_read_once() {
        assert_eq!(scalars("\u{feff}a: b\n"), ["a", "b"]);
        assert_eq!(scalars("a: b\n"), ["a", "b"]);
    }
}
