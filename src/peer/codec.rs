//! Peer messages and their frames. Pure: bytes in, values out, no I/O.
//!
//! Every frame is a big-endian `u32` body length followed by the body; the
//! length is checked against the limit before anything is allocated. After
//! the handshake, a client sends requests and a server sends replies:
//!
//! ```text
//! request: kind u8 | request id u64 | view id u64 | flags u8 | body
//!          flags: 0x01 forwarded, 0x02 the client speaks RESP2
//!          kind 1 (command): argc varint, then per argument len varint + bytes
//!          kind 2 (stamps): key count varint, then per key len varint + bytes
//!          kind 3 (transaction): watched count varint, then per watched key
//!                 len varint + bytes, version u64, removals u64; then
//!                 command count varint, then per command a kind 1 body
//!          kind 4 (replicate): items (see `items`)
//!          kind 5 (pull): slot u16, cursor u64, max bytes u32
//!          kind 6 (handoff): slot count varint, then u16 per slot
//!          kind 7 (holds): nothing
//! reply:   request id u64 | status u8 | body
//!          status 0 (frame): a reply value (see `frame_codec`)
//!          status 1 (wrong owner): the receiver's view id u64
//!          status 2 (error): len varint + UTF-8 text
//! ```
//!
//! A request of an unknown kind is still well-framed: the receiver answers
//! with an error for its id and keeps the connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::frame_codec;
use super::items::{ReplicaItem, items_len, put_items, read_items};
use super::wire::{Cursor, DecodeError, bytes_len, put_bytes, put_varint, varint_len};
use crate::protocol::{Frame, Protocol};

/// Bytes of the length prefix before every frame body.
pub const LEN_PREFIX: usize = 4;
/// Kind, request id, view id, flags.
const REQUEST_HEADER_LEN: usize = 1 + 8 + 8 + 1;
/// Request id, status.
const REPLY_HEADER_LEN: usize = 8 + 1;

const KIND_COMMAND: u8 = 1;
const KIND_STAMPS: u8 = 2;
const KIND_TRANSACTION: u8 = 3;
const KIND_REPLICATE: u8 = 4;
const KIND_PULL: u8 = 5;
const KIND_HANDOFF: u8 = 6;
const KIND_HOLDS: u8 = 7;
const FLAG_FORWARDED: u8 = 0x01;
const FLAG_RESP2: u8 = 0x02;
const FLAG_NO_TOUCH: u8 = 0x04;
const KNOWN_FLAGS: u8 = FLAG_FORWARDED | FLAG_RESP2 | FLAG_NO_TOUCH;

const STATUS_FRAME: u8 = 0;
const STATUS_WRONG_OWNER: u8 = 1;
const STATUS_ERROR: u8 = 2;

/// One request from a node to a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerRequest {
    /// The sender's ring view id when it chose this peer.
    pub view_id: u64,
    /// Set when the sender is not the node the client talked to; such a
    /// request must not be forwarded again.
    pub forwarded: bool,
    /// The RESP version of the client the request comes from. Replies are
    /// values encoded by the entry node, but a few commands choose their
    /// shape by protocol (HRANDFIELD WITHVALUES: a flat array in RESP2,
    /// pairs in RESP3), so the receiver runs the command as that client.
    pub client_protocol: Protocol,
    /// The client set `CLIENT NO-TOUCH ON`: the keys the command reads keep
    /// their LRU time or LFU counter.
    pub no_touch: bool,
    /// What to do.
    pub body: RequestBody,
}

impl PeerRequest {
    /// A client command to run on the peer, for a RESP3 client (see
    /// [`PeerRequest::for_client`]).
    pub fn command(view_id: u64, forwarded: bool, args: Vec<Bytes>) -> PeerRequest {
        PeerRequest {
            view_id,
            forwarded,
            client_protocol: Protocol::Resp3,
            no_touch: false,
            body: RequestBody::Command { args },
        }
    }

    /// The same request for a client speaking `protocol`.
    pub fn for_client(self, protocol: Protocol) -> PeerRequest {
        PeerRequest { client_protocol: protocol, ..self }
    }

    /// The same request for a client with `CLIENT NO-TOUCH` on or off.
    pub fn untouched(self, no_touch: bool) -> PeerRequest {
        PeerRequest { no_touch, ..self }
    }

    /// A request between nodes that is not a client's (replication, slot
    /// moves), sent in view `view_id`.
    pub fn internal(view_id: u64, body: RequestBody) -> PeerRequest {
        PeerRequest { view_id, forwarded: true, client_protocol: Protocol::Resp3, no_touch: false, body }
    }
}

/// The kinds of request. Each has its own kind byte on the wire, so later
/// kinds (replicated writes, slot pulls, handoff) can be added without
/// changing the frame layout.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// A client command, already split into arguments (`args[0]` = name).
    Command {
        /// The arguments; they share the receiver's read buffer, so copy
        /// what you keep.
        args: Vec<Bytes>,
    },
    /// The `WATCH` stamps of keys the receiver owns.
    Stamps {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// A whole transaction (`MULTI` .. `EXEC`) whose keys the receiver owns.
    Transaction {
        /// Keys under `WATCH` with the stamps the receiver gave them.
        watched: Vec<WatchedKey>,
        /// The queued commands, in order.
        commands: Vec<Vec<Bytes>>,
    },
    /// Key states from their owner, applied where newer (replication and
    /// the dual writes of a moving slot). Answered with the count applied.
    Replicate {
        /// The states.
        items: Vec<ReplicaItem>,
    },
    /// A page of a slot's keys for a node that is becoming a copy of it.
    Pull {
        /// The slot.
        slot: u16,
        /// Where the page starts (0 first; then the cursor the last page
        /// returned).
        cursor: u64,
        /// About how many bytes the page may hold.
        max_bytes: u32,
    },
    /// The sender is the new owner of these slots and holds them: stop
    /// serving them and answer once writes in flight are done.
    Handoff {
        /// The slots.
        slots: Vec<u16>,
    },
    /// Which slots the receiver holds a complete copy of.
    Holds,
}

/// A watched key and its stamp (see the store's `KeyStamp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedKey {
    /// The key.
    pub key: Bytes,
    /// The key's version when watched; 0 if it did not exist.
    pub version: u64,
    /// Removals from the key's slot when watched.
    pub removals: u64,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerReply {
    /// The command's reply value.
    Frame(Frame),
    /// The receiver does not own the keys in its own view (its view id
    /// given); the sender may retry once the views agree.
    WrongOwner {
        /// The receiver's ring view id.
        view_id: u64,
    },
    /// The request could not be handled (text for logs and clients).
    Error(String),
}

/// A frame longer than the configured limit: refused before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {size} bytes exceeds the limit of {max}")]
pub struct FrameTooLarge {
    /// Body length the frame has or announced.
    pub size: u64,
    /// The limit (`max_frame_bytes`).
    pub max: usize,
}

/// A decoded request frame: its id is known even when its body is not
/// usable, so the receiver can still answer it.
#[derive(Debug)]
pub(crate) struct RequestFrame {
    /// The sender's request id.
    pub(crate) id: u64,
    /// The request, or why its body could not be read.
    pub(crate) request: Result<PeerRequest, DecodeError>,
}

/// Body length announced by the frame at the start of `buf`: `None` until
/// the prefix is there. Fails when it exceeds `max`.
pub(crate) fn announced_len(buf: &[u8], max: usize) -> Result<Option<usize>, FrameTooLarge> {
    let Some(prefix) = buf.get(..LEN_PREFIX) else { return Ok(None) };
    let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes"));
    if len as usize > max {
        return Err(FrameTooLarge { size: u64::from(len), max });
    }
    Ok(Some(len as usize))
}

/// Splits the first complete frame's body off `buf`. `Ok(None)`: not all of
/// it has arrived yet (not an error); nothing is consumed.
pub(crate) fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameTooLarge> {
    let Some(len) = announced_len(buf, max)? else { return Ok(None) };
    if buf.len() < LEN_PREFIX + len {
        return Ok(None);
    }
    buf.advance(LEN_PREFIX);
    Ok(Some(buf.split_to(len).freeze()))
}

/// Appends a frame of `body_len` bytes' prefix, checking the limit.
fn start_frame(out: &mut BytesMut, body_len: usize, max: usize) -> Result<(), FrameTooLarge> {
    if body_len > max || body_len > u32::MAX as usize {
        return Err(FrameTooLarge { size: body_len as u64, max });
    }
    out.reserve(LEN_PREFIX + body_len);
    out.put_u32(body_len as u32);
    Ok(())
}

/// The whole frame (prefix included) for `request` under request id `id`.
///
/// # Errors
/// [`FrameTooLarge`] when the body would exceed `max`; nothing is allocated.
pub fn encode_request(id: u64, request: &PeerRequest, max: usize) -> Result<Bytes, FrameTooLarge> {
    let (kind, len) = match &request.body {
        RequestBody::Command { args } => (KIND_COMMAND, args_len(args)),
        RequestBody::Stamps { keys } => (KIND_STAMPS, args_len(keys)),
        RequestBody::Transaction { watched, commands } => {
            let watched_len = varint_len(watched.len() as u64)
                + watched.iter().map(|w| bytes_len(w.key.len()) + 16).sum::<usize>();
            let commands_len =
                varint_len(commands.len() as u64) + commands.iter().map(|args| args_len(args)).sum::<usize>();
            (KIND_TRANSACTION, watched_len + commands_len)
        }
        RequestBody::Replicate { items } => (KIND_REPLICATE, items_len(items)),
        RequestBody::Pull { .. } => (KIND_PULL, 2 + 8 + 4),
        RequestBody::Handoff { slots } => (KIND_HANDOFF, varint_len(slots.len() as u64) + 2 * slots.len()),
        RequestBody::Holds => (KIND_HOLDS, 0),
    };
    let body_len = REQUEST_HEADER_LEN + len;
    let mut out = BytesMut::new();
    start_frame(&mut out, body_len, max)?;
    out.put_u8(kind);
    out.put_u64(id);
    out.put_u64(request.view_id);
    let mut flags = 0;
    if request.forwarded {
        flags |= FLAG_FORWARDED;
    }
    if request.client_protocol == Protocol::Resp2 {
        flags |= FLAG_RESP2;
    }
    if request.no_touch {
        flags |= FLAG_NO_TOUCH;
    }
    out.put_u8(flags);
    match &request.body {
        RequestBody::Command { args } => put_args(&mut out, args),
        RequestBody::Stamps { keys } => put_args(&mut out, keys),
        RequestBody::Transaction { watched, commands } => {
            put_varint(&mut out, watched.len() as u64);
            for w in watched {
                put_bytes(&mut out, &w.key);
                out.put_u64(w.version);
                out.put_u64(w.removals);
            }
            put_varint(&mut out, commands.len() as u64);
            for args in commands {
                put_args(&mut out, args);
            }
        }
        RequestBody::Replicate { items } => put_items(&mut out, items),
        RequestBody::Pull { slot, cursor, max_bytes } => {
            out.put_u16(*slot);
            out.put_u64(*cursor);
            out.put_u32(*max_bytes);
        }
        RequestBody::Handoff { slots } => {
            put_varint(&mut out, slots.len() as u64);
            for slot in slots {
                out.put_u16(*slot);
            }
        }
        RequestBody::Holds => {}
    }
    debug_assert_eq!(out.len(), LEN_PREFIX + body_len);
    Ok(out.freeze())
}

/// Encoded length of a list of byte strings.
fn args_len(args: &[Bytes]) -> usize {
    varint_len(args.len() as u64) + args.iter().map(|arg| bytes_len(arg.len())).sum::<usize>()
}

fn put_args(out: &mut BytesMut, args: &[Bytes]) {
    put_varint(out, args.len() as u64);
    for arg in args {
        put_bytes(out, arg);
    }
}

/// Reads a request body (prefix removed).
///
/// # Errors
/// Only when not even the header is readable; a bad body is reported in
/// [`RequestFrame::request`] with the id.
pub(crate) fn decode_request(body: Bytes) -> Result<RequestFrame, DecodeError> {
    let mut cursor = Cursor::new(body);
    if cursor.remaining() < REQUEST_HEADER_LEN {
        return Err(DecodeError::Truncated);
    }
    let kind = cursor.u8()?;
    let id = cursor.u64()?;
    let view_id = cursor.u64()?;
    let flags = cursor.u8()?;
    let request = decode_request_body(kind, flags, &mut cursor).map(|body| PeerRequest {
        view_id,
        forwarded: flags & FLAG_FORWARDED != 0,
        client_protocol: if flags & FLAG_RESP2 != 0 { Protocol::Resp2 } else { Protocol::Resp3 },
        no_touch: flags & FLAG_NO_TOUCH != 0,
        body,
    });
    Ok(RequestFrame { id, request })
}

fn decode_request_body(kind: u8, flags: u8, cursor: &mut Cursor) -> Result<RequestBody, DecodeError> {
    if !(KIND_COMMAND..=KIND_HOLDS).contains(&kind) {
        return Err(DecodeError::UnknownKind(kind));
    }
    if flags & !KNOWN_FLAGS != 0 {
        return Err(DecodeError::Malformed("unknown flags"));
    }
    let body = match kind {
        KIND_COMMAND => RequestBody::Command { args: read_args(cursor)? },
        KIND_STAMPS => RequestBody::Stamps { keys: read_args(cursor)? },
        KIND_REPLICATE => RequestBody::Replicate { items: read_items(cursor)? },
        KIND_PULL => RequestBody::Pull {
            slot: cursor.u16()?,
            cursor: cursor.u64()?,
            max_bytes: u32::from_be_bytes(cursor.array()?),
        },
        KIND_HANDOFF => {
            let count = cursor.count(2)?;
            let mut slots = Vec::with_capacity(count);
            for _ in 0..count {
                slots.push(cursor.u16()?);
            }
            RequestBody::Handoff { slots }
        }
        KIND_HOLDS => RequestBody::Holds,
        _ => {
            let count = cursor.count(1 + 16)?;
            let mut watched = Vec::with_capacity(count.min(4096));
            for _ in 0..count {
                let key = cursor.bytes()?;
                watched.push(WatchedKey { key, version: cursor.u64()?, removals: cursor.u64()? });
            }
            let count = cursor.count(1)?;
            let mut commands = Vec::with_capacity(count.min(4096));
            for _ in 0..count {
                commands.push(read_args(cursor)?);
            }
            RequestBody::Transaction { watched, commands }
        }
    };
    cursor.finish()?;
    Ok(body)
}

fn read_args(cursor: &mut Cursor) -> Result<Vec<Bytes>, DecodeError> {
    let argc = cursor.count(1)?;
    let mut args = Vec::with_capacity(argc.min(4096));
    for _ in 0..argc {
        args.push(cursor.bytes()?);
    }
    Ok(args)
}

/// The whole frame (prefix included) answering request `id`.
///
/// # Errors
/// [`FrameTooLarge`] when the body would exceed `max`; nothing is allocated.
#[cfg(test)]
pub fn encode_reply(id: u64, reply: &PeerReply, max: usize) -> Result<Bytes, FrameTooLarge> {
    let mut out = BytesMut::new();
    encode_reply_into(id, reply, max, &mut out)?;
    Ok(out.freeze())
}

/// Appends the frame answering request `id` to `out` (replies to many
/// requests go out in one write).
///
/// # Errors
/// [`FrameTooLarge`] when the body would exceed `max`; nothing is appended.
pub(crate) fn encode_reply_into(
    id: u64,
    reply: &PeerReply,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), FrameTooLarge> {
    let body_len = REPLY_HEADER_LEN
        + match reply {
            PeerReply::Frame(frame) => frame_codec::encoded_len(frame),
            PeerReply::WrongOwner { .. } => 8,
            PeerReply::Error(text) => bytes_len(text.len()),
        };
    let start = out.len();
    start_frame(out, body_len, max)?;
    out.put_u64(id);
    match reply {
        PeerReply::Frame(frame) => {
            out.put_u8(STATUS_FRAME);
            frame_codec::encode(frame, out);
        }
        PeerReply::WrongOwner { view_id } => {
            out.put_u8(STATUS_WRONG_OWNER);
            out.put_u64(*view_id);
        }
        PeerReply::Error(text) => {
            out.put_u8(STATUS_ERROR);
            put_bytes(out, text.as_bytes());
        }
    }
    debug_assert_eq!(out.len() - start, LEN_PREFIX + body_len);
    Ok(())
}

/// Reads a reply body (prefix removed): the request id and the reply.
pub(crate) fn decode_reply(body: Bytes) -> Result<(u64, PeerReply), DecodeError> {
    let mut cursor = Cursor::new(body);
    let id = cursor.u64()?;
    let reply = match cursor.u8()? {
        STATUS_FRAME => PeerReply::Frame(frame_codec::decode(&mut cursor)?),
        STATUS_WRONG_OWNER => PeerReply::WrongOwner { view_id: cursor.u64()? },
        STATUS_ERROR => PeerReply::Error(cursor.string()?),
        _ => return Err(DecodeError::Malformed("unknown reply status")),
    };
    cursor.finish()?;
    Ok((id, reply))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX: usize = 1 << 20;

    fn args(items: &[&str]) -> Vec<Bytes> {
        items.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    /// Splits `wire` as a stream reader would and returns the single body.
    fn only_body(wire: &[u8]) -> Bytes {
        let mut buf = BytesMut::from(wire);
        let body = split_frame(&mut buf, MAX).unwrap().expect("complete frame");
        assert!(buf.is_empty());
        body
    }

    fn sample_replies() -> Vec<PeerReply> {
        vec![
            PeerReply::Frame(frame_codec::tests::every_variant()),
            PeerReply::Frame(Frame::Null),
            PeerReply::WrongOwner { view_id: u64::MAX },
            PeerReply::Error("ERR something".into()),
            PeerReply::Error(String::new()),
        ]
    }

    #[test]
    fn requests_round_trip() {
        for request in [
            PeerRequest::command(7, false, args(&["SET", "k", "v"])),
            PeerRequest::command(u64::MAX, true, vec![Bytes::from_static(b"\x00\xff\r\n"), Bytes::new()]),
            PeerRequest::command(0, false, vec![]),
            PeerRequest {
                view_id: 3,
                forwarded: true,
                client_protocol: Protocol::Resp3,
                no_touch: false,
                body: RequestBody::Stamps { keys: args(&["a", "b"]) },
            },
            PeerRequest {
                view_id: 9,
                forwarded: true,
                client_protocol: Protocol::Resp2,
                no_touch: true,
                body: RequestBody::Transaction {
                    watched: vec![
                        WatchedKey { key: Bytes::from_static(b"w"), version: u64::MAX, removals: 0 },
                        WatchedKey { key: Bytes::new(), version: 0, removals: 17 },
                    ],
                    commands: vec![args(&["SET", "k", "v"]), vec![], args(&["INCR", "n"])],
                },
            },
            PeerRequest {
                view_id: 0,
                forwarded: false,
                client_protocol: Protocol::Resp3,
                no_touch: false,
                body: RequestBody::Transaction { watched: vec![], commands: vec![] },
            },
            PeerRequest::command(3, true, args(&["HRANDFIELD", "h", "-2", "WITHVALUES"]))
                .for_client(Protocol::Resp2),
            PeerRequest::command(3, false, args(&["GET", "k"])).for_client(Protocol::Resp2),
            PeerRequest::command(3, true, args(&["GET", "k"])).untouched(true),
            PeerRequest::internal(4, RequestBody::Replicate { items: crate::peer::items::tests::samples() }),
            PeerRequest::internal(4, RequestBody::Pull { slot: 16383, cursor: u64::MAX, max_bytes: 1 << 20 }),
            PeerRequest::internal(4, RequestBody::Handoff { slots: vec![0, 7, 16383] }),
            PeerRequest::internal(4, RequestBody::Holds),
        ] {
            let wire = encode_request(42, &request, MAX).unwrap();
            let frame = decode_request(only_body(&wire)).unwrap();
            assert_eq!(frame.id, 42);
            assert_eq!(frame.request.unwrap(), request);
        }
    }

    #[test]
    fn replies_round_trip() {
        for reply in sample_replies() {
            let wire = encode_reply(u64::MAX - 3, &reply, MAX).unwrap();
            assert_eq!(decode_reply(only_body(&wire)).unwrap(), (u64::MAX - 3, reply));
        }
    }

    #[test]
    fn header_layout_is_stable() {
        let wire =
            encode_request(0x0102, &PeerRequest::command(0x0a0b, true, args(&["GET", "k"])), MAX).unwrap();
        let expected: &[u8] = b"\x00\x00\x00\x19\x01\
            \x00\x00\x00\x00\x00\x00\x01\x02\
            \x00\x00\x00\x00\x00\x00\x0a\x0b\
            \x01\x02\x03GET\x01k";
        assert_eq!(&wire[..], expected);
        let resp2 = PeerRequest::command(0x0a0b, true, args(&["GET", "k"])).for_client(Protocol::Resp2);
        let wire = encode_request(0x0102, &resp2, MAX).unwrap();
        assert_eq!(wire[21], FLAG_FORWARDED | FLAG_RESP2, "the flags byte");
        let reply = encode_reply(5, &PeerReply::WrongOwner { view_id: 9 }, MAX).unwrap();
        assert_eq!(
            &reply[..],
            b"\x00\x00\x00\x11\x00\x00\x00\x00\x00\x00\x00\x05\x01\x00\x00\x00\x00\x00\x00\x00\x09"
        );
    }

    #[test]
    fn every_truncation_is_incomplete() {
        let mut wire = encode_request(1, &PeerRequest::command(2, false, args(&["MGET", "a", "b"])), MAX)
            .unwrap()
            .to_vec();
        wire.extend_from_slice(&encode_reply(3, &sample_replies()[0], MAX).unwrap());
        let first_len = wire.len() - encode_reply(3, &sample_replies()[0], MAX).unwrap().len();
        for cut in 0..first_len {
            let mut buf = BytesMut::from(&wire[..cut]);
            assert_eq!(split_frame(&mut buf, MAX), Ok(None), "cut at {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed");
        }
        let mut buf = BytesMut::from(&wire[..]);
        assert!(split_frame(&mut buf, MAX).unwrap().is_some());
        for cut in 0..buf.len() {
            let mut partial = BytesMut::from(&buf[..cut]);
            assert_eq!(split_frame(&mut partial, MAX), Ok(None), "second frame cut at {cut}");
        }
        assert!(split_frame(&mut buf, MAX).unwrap().is_some());
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_lengths_are_rejected_from_the_prefix_alone() {
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        assert_eq!(split_frame(&mut buf, MAX), Err(FrameTooLarge { size: u64::from(u32::MAX), max: MAX }));
        let mut buf = BytesMut::from(&b"\x00\x00\x01\x01"[..]);
        assert_eq!(split_frame(&mut buf, 256), Err(FrameTooLarge { size: 257, max: 256 }));
        let mut buf = BytesMut::from(&b"\x00\x00\x01\x00"[..]);
        assert_eq!(split_frame(&mut buf, 256), Ok(None));
    }

    #[test]
    fn oversized_messages_are_not_encoded() {
        let big = PeerRequest::command(0, false, vec![Bytes::from(vec![0u8; 1000])]);
        assert!(matches!(encode_request(1, &big, 1000), Err(FrameTooLarge { max: 1000, .. })));
        assert!(encode_request(1, &big, 1100).is_ok());
        let reply = PeerReply::Frame(Frame::Bulk(Bytes::from(vec![0u8; 1000])));
        assert!(encode_reply(1, &reply, 1000).is_err());
    }

    #[test]
    fn unknown_kind_keeps_the_id() {
        let mut body = BytesMut::new();
        body.put_u8(77);
        body.put_u64(9);
        body.put_u64(0);
        body.put_u8(0);
        body.put_slice(b"future payload");
        let frame = decode_request(body.freeze()).unwrap();
        assert_eq!(frame.id, 9);
        assert_eq!(frame.request, Err(DecodeError::UnknownKind(77)));
    }

    #[test]
    fn bad_bodies_keep_the_id_and_short_headers_fail() {
        let wire = encode_request(5, &PeerRequest::command(0, false, args(&["GET", "key"])), MAX).unwrap();
        let body = only_body(&wire);
        let cut = decode_request(body.slice(..body.len() - 1)).unwrap();
        assert_eq!((cut.id, cut.request), (5, Err(DecodeError::Truncated)));
        let mut trailing = body.to_vec();
        trailing.push(0);
        assert!(matches!(
            decode_request(Bytes::from(trailing)).unwrap().request,
            Err(DecodeError::Malformed(_))
        ));
        let mut flags = body.to_vec();
        flags[17] = 0x80;
        assert!(matches!(
            decode_request(Bytes::from(flags)).unwrap().request,
            Err(DecodeError::Malformed(_))
        ));
        assert_eq!(decode_request(body.slice(..17)).unwrap_err(), DecodeError::Truncated);
        assert!(decode_reply(Bytes::from_static(b"\0\0\0\0\0\0\0\x01\x09")).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(body)) = split_frame(&mut buf, 256) {
                let _ = decode_request(body.clone());
                let _ = decode_reply(body);
            }
            let body = Bytes::from(bytes);
            let _ = decode_request(body.clone());
            let _ = decode_reply(body);
        }

        #[test]
        fn command_args_round_trip(
            view in any::<u64>(),
            forwarded in any::<bool>(),
            resp2 in any::<bool>(),
            no_touch in any::<bool>(),
            raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        ) {
            let protocol = if resp2 { Protocol::Resp2 } else { Protocol::Resp3 };
            let request = PeerRequest::command(view, forwarded, raw.into_iter().map(Bytes::from).collect())
                .for_client(protocol)
                .untouched(no_touch);
            let wire = encode_request(11, &request, MAX).unwrap();
            let frame = decode_request(only_body(&wire)).unwrap();
            prop_assert_eq!(frame.request.unwrap(), request);
        }
    }
}
