//! Versioned key states on the wire: what replication, dual writes and slot
//! pulls carry. Pure.
//!
//! ```text
//! item:  key len varint + bytes | version u64 | tag u8 | rest
//!        tag 0 (deleted): nothing more
//!        tag 1 (string):  expires_at u64 | len varint + bytes
//!        tag 2 (hash):    expires_at u64 | field count varint, then per
//!                         field len varint + bytes, value len varint + bytes
//! items: count varint, then every item
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use super::wire::{Cursor, DecodeError, bytes_len, put_bytes, put_varint, varint_len};

const TAG_DELETED: u8 = 0;
const TAG_STRING: u8 = 1;
const TAG_HASH: u8 = 2;

/// A key's state at one version, as its owner stamped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaItem {
    /// The key.
    pub key: Bytes,
    /// The owner's version of this state; a copy applies it only over an
    /// older version.
    pub version: u64,
    /// The value and its expiry; `None` when the key was deleted (or had
    /// expired) at that version.
    pub state: Option<ItemState>,
}

/// A live key's value and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemState {
    /// Absolute expiry in Unix milliseconds; 0 = never.
    pub expires_at: u64,
    /// The value.
    pub value: ItemValue,
}

/// A value in its wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemValue {
    /// A string.
    Str(Bytes),
    /// A hash's fields and values.
    Hash(Vec<(Bytes, Bytes)>),
}

impl ReplicaItem {
    /// Bytes [`put_items`] writes for this item.
    pub fn encoded_len(&self) -> usize {
        bytes_len(self.key.len())
            + 8
            + 1
            + match &self.state {
                None => 0,
                Some(ItemState { value: ItemValue::Str(s), .. }) => 8 + bytes_len(s.len()),
                Some(ItemState { value: ItemValue::Hash(fields), .. }) => {
                    8 + varint_len(fields.len() as u64)
                        + fields.iter().map(|(f, v)| bytes_len(f.len()) + bytes_len(v.len())).sum::<usize>()
                }
            }
    }
}

/// Bytes [`put_items`] writes for `items`.
pub fn items_len(items: &[ReplicaItem]) -> usize {
    varint_len(items.len() as u64) + items.iter().map(ReplicaItem::encoded_len).sum::<usize>()
}

/// Appends `items` (count first).
pub fn put_items(out: &mut BytesMut, items: &[ReplicaItem]) {
    put_varint(out, items.len() as u64);
    for item in items {
        put_bytes(out, &item.key);
        out.put_u64(item.version);
        match &item.state {
            None => out.put_u8(TAG_DELETED),
            Some(ItemState { expires_at, value: ItemValue::Str(s) }) => {
                out.put_u8(TAG_STRING);
                out.put_u64(*expires_at);
                put_bytes(out, s);
            }
            Some(ItemState { expires_at, value: ItemValue::Hash(fields) }) => {
                out.put_u8(TAG_HASH);
                out.put_u64(*expires_at);
                put_varint(out, fields.len() as u64);
                for (field, value) in fields {
                    put_bytes(out, field);
                    put_bytes(out, value);
                }
            }
        }
    }
}

/// Encodes `items` on their own (a pulled page travels as one bulk value).
pub fn encode_items(items: &[ReplicaItem]) -> Bytes {
    let mut out = BytesMut::with_capacity(items_len(items));
    put_items(&mut out, items);
    out.freeze()
}

/// Reads what [`put_items`] wrote.
pub(crate) fn read_items(cursor: &mut Cursor) -> Result<Vec<ReplicaItem>, DecodeError> {
    let count = cursor.count(1 + 8 + 1)?;
    let mut items = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let key = cursor.bytes()?;
        let version = cursor.u64()?;
        let state = match cursor.u8()? {
            TAG_DELETED => None,
            TAG_STRING => {
                Some(ItemState { expires_at: cursor.u64()?, value: ItemValue::Str(cursor.bytes()?) })
            }
            TAG_HASH => {
                let expires_at = cursor.u64()?;
                let count = cursor.count(2)?;
                let mut fields = Vec::with_capacity(count.min(4096));
                for _ in 0..count {
                    fields.push((cursor.bytes()?, cursor.bytes()?));
                }
                Some(ItemState { expires_at, value: ItemValue::Hash(fields) })
            }
            _ => return Err(DecodeError::Malformed("unknown item tag")),
        };
        items.push(ReplicaItem { key, version, state });
    }
    Ok(items)
}

/// Decodes a bulk value written by [`encode_items`].
///
/// # Errors
/// When the bytes are not exactly a list of items.
pub fn decode_items(data: Bytes) -> Result<Vec<ReplicaItem>, DecodeError> {
    let mut cursor = Cursor::new(data);
    let items = read_items(&mut cursor)?;
    cursor.finish()?;
    Ok(items)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn samples() -> Vec<ReplicaItem> {
        vec![
            ReplicaItem { key: Bytes::from_static(b"gone"), version: 7, state: None },
            ReplicaItem {
                key: Bytes::from_static(b"s"),
                version: u64::MAX,
                state: Some(ItemState { expires_at: 0, value: ItemValue::Str(Bytes::from_static(b"v\r\n")) }),
            },
            ReplicaItem {
                key: Bytes::new(),
                version: 1,
                state: Some(ItemState {
                    expires_at: 1_900_000_000_000,
                    value: ItemValue::Hash(vec![
                        (Bytes::from_static(b"f"), Bytes::from_static(b"1")),
                        (Bytes::new(), Bytes::new()),
                    ]),
                }),
            },
        ]
    }

    #[test]
    fn items_round_trip_with_their_announced_length() {
        let items = samples();
        let wire = encode_items(&items);
        assert_eq!(wire.len(), items_len(&items));
        assert_eq!(decode_items(wire).unwrap(), items);
        assert_eq!(decode_items(encode_items(&[])).unwrap(), vec![]);
    }

    #[test]
    fn damaged_items_are_errors() {
        let wire = encode_items(&samples());
        for cut in 0..wire.len() {
            assert!(decode_items(wire.slice(..cut)).is_err(), "cut at {cut}");
        }
        let mut bad_tag = encode_items(&samples()[..1]).to_vec();
        *bad_tag.last_mut().unwrap() = 9;
        assert_eq!(decode_items(Bytes::from(bad_tag)), Err(DecodeError::Malformed("unknown item tag")));
    }
}
