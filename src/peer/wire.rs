//! Primitive wire encodings shared by the peer codecs: LEB128 varints and a
//! bounds-checked reader over one frame's bytes.
//!
//! Every read checks the bytes left in the frame first, so a length field
//! can never make a decoder allocate or slice past what was received.

use bytes::{BufMut, Bytes, BytesMut};

/// Longest LEB128 encoding of a `u64`.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Why a frame body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body ends before a field it announced.
    #[error("truncated body")]
    Truncated,
    /// A field holds an impossible value (the text says which).
    #[error("malformed body: {0}")]
    Malformed(&'static str),
    /// Arrays, maps or sets nested deeper than the codec accepts.
    #[error("reply nested too deeply")]
    TooDeep,
    /// A request kind this build does not know. The frame itself was
    /// well-formed, so the connection can go on.
    #[error("unknown request kind {0}")]
    UnknownKind(u8),
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Bytes [`put_varint`] writes for `value`.
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `bytes` preceded by its length as a varint.
pub(crate) fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.put_slice(bytes);
}

/// Bytes [`put_bytes`] writes for a field of `len` bytes.
pub(crate) fn bytes_len(len: usize) -> usize {
    varint_len(len as u64) + len
}

/// Reads fields off one complete frame body.
#[derive(Debug)]
pub(crate) struct Cursor {
    data: Bytes,
    pos: usize,
}

impl Cursor {
    /// A reader at the start of `data`.
    pub(crate) fn new(data: Bytes) -> Cursor {
        Cursor { data, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Fails unless every byte was read (trailing bytes mean the two sides
    /// disagree about the layout).
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 { Ok(()) } else { Err(DecodeError::Malformed("trailing bytes")) }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let byte = *self.data.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A fixed number of bytes, copied into an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.data.get(self.pos..self.pos + N).ok_or(DecodeError::Truncated)?;
        self.pos += N;
        Ok(slice.try_into().expect("slice of N bytes"))
    }

    /// An unsigned LEB128 varint; overlong or overflowing encodings are
    /// malformed.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let byte = self.u8()?;
            if i == MAX_VARINT_LEN - 1 && byte > 1 {
                return Err(DecodeError::Malformed("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::Malformed("overlong varint"));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed("varint overflows 64 bits"))
    }

    /// A count of items that each take at least `min_item_bytes`; checked
    /// against the bytes left, so the caller may size a `Vec` by it.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let count = self.varint()?;
        let limit = self.remaining() / min_item_bytes.max(1);
        if count > limit as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(count as usize)
    }

    /// `len` bytes, shared with the frame (no copy).
    pub(crate) fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let bytes = self.data.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(bytes)
    }

    /// A varint length followed by that many bytes.
    pub(crate) fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.count(1)?;
        self.take(len)
    }

    /// A varint length followed by that many bytes of UTF-8.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        let bytes = self.bytes()?;
        let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::Malformed("invalid UTF-8"))?;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(bytes: &[u8]) -> Cursor {
        Cursor::new(Bytes::copy_from_slice(bytes))
    }

    #[test]
    fn varints_round_trip_with_exact_lengths() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut out = BytesMut::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
            let mut c = cursor(&out);
            assert_eq!(c.varint(), Ok(value));
            c.finish().unwrap();
        }
    }

    #[test]
    fn bad_varints_are_rejected() {
        assert_eq!(cursor(&[0x80]).varint(), Err(DecodeError::Truncated));
        assert_eq!(cursor(&[0x80, 0x00]).varint(), Err(DecodeError::Malformed("overlong varint")));
        let mut eleven = [0xffu8; 11];
        eleven[10] = 0;
        assert!(matches!(cursor(&eleven).varint(), Err(DecodeError::Malformed(_))));
        let mut overflow = [0xffu8; 10];
        overflow[9] = 0x02;
        assert!(matches!(cursor(&overflow).varint(), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn lengths_are_checked_against_what_is_left() {
        let mut out = BytesMut::new();
        put_varint(&mut out, 5);
        out.put_slice(b"abc");
        assert_eq!(cursor(&out).bytes(), Err(DecodeError::Truncated));
        let mut huge = BytesMut::new();
        put_varint(&mut huge, u64::MAX);
        assert_eq!(cursor(&huge).count(1), Err(DecodeError::Truncated));
        assert_eq!(cursor(&[3, 0, 0, 0, 0, 0, 0]).count(2), Ok(3));
        assert_eq!(cursor(&[3, 0, 0, 0, 0, 0]).count(2), Err(DecodeError::Truncated));
    }
}
