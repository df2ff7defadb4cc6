//! The connection handshake's messages and proofs. Pure: no I/O (the
//! exchange itself is in `negotiate`).
//!
//! ```text
//! client                                         server
//! preamble, Hello{node id, cluster, nonce}  ─▶
//!                                           ◀─  preamble, Welcome{node id, nonce, MAC?} | Refusal
//! Proof{MAC?} | Refusal                     ─▶
//!                                           ◀─  Ready | Refusal
//! ```
//!
//! The preamble is the magic `SHOALP` and the protocol version (`u16`,
//! big-endian), outside any frame, so a stray client of another protocol is
//! recognized from its first bytes. Each message is one length-prefixed
//! frame whose first byte is its type. Strings are a `u16` length and UTF-8.
//!
//! With a cluster secret, each side proves it holds it: the MAC is BLAKE3
//! in keyed mode (key derived from the secret with `derive_key`) over a
//! role label, both node ids, the cluster name and both nonces. The labels
//! differ per role so a server's proof cannot be replayed as a client's,
//! and fresh nonces on both sides stop replays across connections. MACs are
//! compared in constant time.

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::LEN_PREFIX;
use super::wire::{Cursor, DecodeError};

/// First bytes each side sends.
pub(crate) const MAGIC: [u8; 6] = *b"SHOALP";
/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Magic and version.
pub(crate) const PREAMBLE_LEN: usize = MAGIC.len() + 2;
/// Largest handshake frame accepted, far below `max_frame_bytes`: an
/// unauthenticated peer cannot make a node allocate more.
pub(crate) const MAX_HANDSHAKE_FRAME: usize = 2048;
/// Longest node id or cluster name, in bytes.
pub const MAX_NODE_ID_LEN: usize = 255;
/// Longest text field sent (refusal details are cut to it).
const MAX_TEXT_LEN: usize = 512;

const NONCE_LEN: usize = 32;
const MAC_LEN: usize = blake3::OUT_LEN;
const MAC_KEY_CONTEXT: &str = "shoal peer handshake MAC key v1";
const SERVER_LABEL: &[u8] = b"shoal peer v1 server proof";
const CLIENT_LABEL: &[u8] = b"shoal peer v1 client proof";

const HELLO: u8 = 1;
const WELCOME: u8 = 2;
const PROOF: u8 = 3;
const READY: u8 = 4;
const REFUSAL: u8 = 5;

/// A random value each side contributes to the proofs.
pub(crate) type Nonce = [u8; NONCE_LEN];
/// A proof of the secret.
pub(crate) type Mac = [u8; MAC_LEN];

/// Why a handshake was refused. Sent as a code in a refusal frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefusalReason {
    /// The other side does not speak this protocol (no `SHOALP` magic).
    #[error("not a Shoal peer")]
    BadMagic,
    /// The other side speaks another protocol version.
    #[error("protocol version mismatch")]
    Version,
    /// The other side belongs to another cluster name.
    #[error("wrong cluster")]
    WrongCluster,
    /// One side has a cluster secret and the other has none.
    #[error("cluster secret configured on one side only")]
    SecretMismatch,
    /// The proof does not match: the secrets differ (or a forgery).
    #[error("wrong cluster secret")]
    BadMac,
    /// The server at the address is not the node the client meant to reach.
    #[error("unexpected node id")]
    WrongNode,
    /// A message that is not what the handshake expects at that point.
    #[error("malformed handshake")]
    Malformed,
}

impl RefusalReason {
    fn code(self) -> u8 {
        match self {
            RefusalReason::BadMagic => 1,
            RefusalReason::Version => 2,
            RefusalReason::WrongCluster => 3,
            RefusalReason::SecretMismatch => 4,
            RefusalReason::BadMac => 5,
            RefusalReason::WrongNode => 6,
            RefusalReason::Malformed => 7,
        }
    }

    fn from_code(code: u8) -> RefusalReason {
        match code {
            1 => RefusalReason::BadMagic,
            2 => RefusalReason::Version,
            3 => RefusalReason::WrongCluster,
            4 => RefusalReason::SecretMismatch,
            5 => RefusalReason::BadMac,
            6 => RefusalReason::WrongNode,
            _ => RefusalReason::Malformed,
        }
    }
}

/// A handshake one side refused. No request was sent on the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {reason}: {detail}", if *by_peer { "refused by peer:" } else { "refused:" })]
pub struct HandshakeError {
    /// Why.
    pub reason: RefusalReason,
    /// True when the other side refused (its reason frame arrived); false
    /// when this node refused the other side.
    pub by_peer: bool,
    /// Details for the log (the mismatching values).
    pub detail: String,
}

impl HandshakeError {
    /// This node refuses the other side.
    pub(crate) fn local(reason: RefusalReason, detail: impl Into<String>) -> HandshakeError {
        HandshakeError { reason, by_peer: false, detail: detail.into() }
    }
}

/// One handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// Client to server, first.
    Hello { node_id: String, cluster_name: String, nonce: Nonce },
    /// Server to client: who it is, its nonce and (with a secret) its proof.
    Welcome { node_id: String, nonce: Nonce, mac: Option<Mac> },
    /// Client to server: its proof (with a secret).
    Proof { mac: Option<Mac> },
    /// Server to client: the connection is ready for requests.
    Ready,
    /// Either side: the handshake is refused, and why.
    Refusal { reason: RefusalReason, detail: String },
}

/// The fixed bytes both sides send first.
pub(crate) fn preamble() -> [u8; PREAMBLE_LEN] {
    let mut out = [0; PREAMBLE_LEN];
    out[..MAGIC.len()].copy_from_slice(&MAGIC);
    out[MAGIC.len()..].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out
}

/// Checks the other side's preamble.
pub(crate) fn check_preamble(received: &[u8; PREAMBLE_LEN]) -> Result<(), HandshakeError> {
    if received[..MAGIC.len()] != MAGIC {
        return Err(HandshakeError::local(RefusalReason::BadMagic, format!("first bytes {received:02x?}")));
    }
    let version = u16::from_be_bytes([received[6], received[7]]);
    if version != PROTOCOL_VERSION {
        let detail = format!("peer speaks version {version}, this node {PROTOCOL_VERSION}");
        return Err(HandshakeError::local(RefusalReason::Version, detail));
    }
    Ok(())
}

/// A fresh random nonce.
pub(crate) fn nonce() -> Nonce {
    rand::random()
}

impl Message {
    /// The message as a whole frame, length prefix included.
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(128);
        out.put_u32(0);
        match self {
            Message::Hello { node_id, cluster_name, nonce } => {
                out.put_u8(HELLO);
                put_str(&mut out, node_id);
                put_str(&mut out, cluster_name);
                out.put_slice(nonce);
            }
            Message::Welcome { node_id, nonce, mac } => {
                out.put_u8(WELCOME);
                put_str(&mut out, node_id);
                out.put_slice(nonce);
                put_mac(&mut out, mac.as_ref());
            }
            Message::Proof { mac } => {
                out.put_u8(PROOF);
                put_mac(&mut out, mac.as_ref());
            }
            Message::Ready => out.put_u8(READY),
            Message::Refusal { reason, detail } => {
                out.put_u8(REFUSAL);
                out.put_u8(reason.code());
                put_str(&mut out, detail);
            }
        }
        let body_len = (out.len() - LEN_PREFIX) as u32;
        out[..LEN_PREFIX].copy_from_slice(&body_len.to_be_bytes());
        out.freeze()
    }

    /// Reads a message from a frame body.
    pub(crate) fn decode(body: Bytes) -> Result<Message, DecodeError> {
        let mut cursor = Cursor::new(body);
        let message = match cursor.u8()? {
            HELLO => Message::Hello {
                node_id: get_str(&mut cursor)?,
                cluster_name: get_str(&mut cursor)?,
                nonce: cursor.array()?,
            },
            WELCOME => Message::Welcome {
                node_id: get_str(&mut cursor)?,
                nonce: cursor.array()?,
                mac: get_mac(&mut cursor)?,
            },
            PROOF => Message::Proof { mac: get_mac(&mut cursor)? },
            READY => Message::Ready,
            REFUSAL => Message::Refusal {
                reason: RefusalReason::from_code(cursor.u8()?),
                detail: get_str(&mut cursor)?,
            },
            _ => return Err(DecodeError::Malformed("unknown handshake message")),
        };
        cursor.finish()?;
        Ok(message)
    }

    /// A refusal carrying `error`'s reason and detail.
    pub(crate) fn refusal(error: &HandshakeError) -> Message {
        Message::Refusal { reason: error.reason, detail: truncated(&error.detail, MAX_TEXT_LEN).to_string() }
    }
}

/// What both proofs cover.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transcript<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) server_id: &'a str,
    pub(crate) cluster_name: &'a str,
    pub(crate) client_nonce: &'a Nonce,
    pub(crate) server_nonce: &'a Nonce,
}

/// Which side a proof is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Client,
    Server,
}

/// Makes and checks proofs with the key derived from the cluster secret.
#[derive(Clone)]
pub(crate) struct Auth {
    key: Option<[u8; 32]>,
}

impl Auth {
    /// Proofs from `secret`; `None`: no authentication.
    pub(crate) fn new(secret: Option<&[u8]>) -> Auth {
        Auth { key: secret.map(|s| blake3::derive_key(MAC_KEY_CONTEXT, s)) }
    }

    /// This side's proof as `role`, or `None` without a secret.
    pub(crate) fn prove(&self, role: Role, transcript: &Transcript<'_>) -> Option<Mac> {
        self.key.as_ref().map(|key| *mac(key, role, transcript).as_bytes())
    }

    /// Checks the other side's proof for `role`.
    pub(crate) fn verify(
        &self,
        role: Role,
        transcript: &Transcript<'_>,
        received: Option<&Mac>,
    ) -> Result<(), HandshakeError> {
        match (&self.key, received) {
            (None, None) => Ok(()),
            (Some(_), None) => {
                Err(HandshakeError::local(RefusalReason::SecretMismatch, "peer sent no proof"))
            }
            (None, Some(_)) => {
                Err(HandshakeError::local(RefusalReason::SecretMismatch, "this node has no secret"))
            }
            (Some(key), Some(received)) => {
                // `blake3::Hash` equality is constant-time.
                if mac(key, role, transcript) == blake3::Hash::from_bytes(*received) {
                    Ok(())
                } else {
                    Err(HandshakeError::local(RefusalReason::BadMac, "proof does not match"))
                }
            }
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("keyed", &self.key.is_some()).finish()
    }
}

fn mac(key: &[u8; 32], role: Role, t: &Transcript<'_>) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(if role == Role::Server { SERVER_LABEL } else { CLIENT_LABEL });
    for field in [t.client_id, t.server_id, t.cluster_name] {
        hasher.update(&(field.len() as u16).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.update(t.client_nonce);
    hasher.update(t.server_nonce);
    hasher.finalize()
}

/// The longest prefix of `text` of at most `max` bytes on a char boundary.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn put_str(out: &mut BytesMut, text: &str) {
    let text = truncated(text, MAX_TEXT_LEN);
    out.put_u16(text.len() as u16);
    out.put_slice(text.as_bytes());
}

fn get_str(cursor: &mut Cursor) -> Result<String, DecodeError> {
    let len = usize::from(cursor.u16()?);
    let bytes = cursor.take(len)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::Malformed("invalid UTF-8"))?;
    Ok(text.to_owned())
}

fn put_mac(out: &mut BytesMut, mac: Option<&Mac>) {
    match mac {
        Some(mac) => {
            out.put_u8(1);
            out.put_slice(mac);
        }
        None => out.put_u8(0),
    }
}

fn get_mac(cursor: &mut Cursor) -> Result<Option<Mac>, DecodeError> {
    match cursor.u8()? {
        0 => Ok(None),
        1 => Ok(Some(cursor.array()?)),
        _ => Err(DecodeError::Malformed("bad proof flag")),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::peer::codec::split_frame;

    fn round_trip(message: &Message) -> Message {
        let mut buf = BytesMut::from(&message.encode()[..]);
        let body = split_frame(&mut buf, MAX_HANDSHAKE_FRAME).unwrap().unwrap();
        assert!(buf.is_empty());
        Message::decode(body).unwrap()
    }

    #[test]
    fn messages_round_trip() {
        let messages = [
            Message::Hello { node_id: "n1".into(), cluster_name: "shoal".into(), nonce: [7; 32] },
            Message::Welcome { node_id: "n2".into(), nonce: [8; 32], mac: Some([9; 32]) },
            Message::Welcome { node_id: "n2".into(), nonce: [8; 32], mac: None },
            Message::Proof { mac: Some([1; 32]) },
            Message::Proof { mac: None },
            Message::Ready,
            Message::Refusal { reason: RefusalReason::WrongCluster, detail: "theirs: other".into() },
        ];
        for message in messages {
            assert_eq!(round_trip(&message), message);
        }
    }

    #[test]
    fn preamble_is_magic_then_version() {
        assert_eq!(&preamble(), b"SHOALP\x00\x01");
        check_preamble(&preamble()).unwrap();
        assert_eq!(check_preamble(b"*1\r\n$4\r\n").unwrap_err().reason, RefusalReason::BadMagic);
        assert_eq!(check_preamble(b"SHOALP\x00\x02").unwrap_err().reason, RefusalReason::Version);
    }

    #[test]
    fn every_truncation_fails_to_decode() {
        let hello =
            Message::Hello { node_id: "n1".into(), cluster_name: "c".into(), nonce: [3; 32] }.encode();
        let body = hello.slice(LEN_PREFIX..);
        for len in 0..body.len() {
            assert!(Message::decode(body.slice(..len)).is_err(), "{len}");
        }
    }

    fn transcript<'a>(nonces: &'a (Nonce, Nonce)) -> Transcript<'a> {
        Transcript {
            client_id: "a",
            server_id: "b",
            cluster_name: "shoal",
            client_nonce: &nonces.0,
            server_nonce: &nonces.1,
        }
    }

    #[test]
    fn proofs_verify_only_with_the_same_secret_and_role() {
        let nonces = (nonce(), nonce());
        assert_ne!(nonces.0, nonces.1);
        let t = transcript(&nonces);
        let ours = Auth::new(Some(b"secret"));
        let proof = ours.prove(Role::Server, &t);
        ours.verify(Role::Server, &t, proof.as_ref()).unwrap();
        let reason = |r: Result<(), HandshakeError>| r.unwrap_err().reason;
        assert_eq!(reason(ours.verify(Role::Client, &t, proof.as_ref())), RefusalReason::BadMac);
        let theirs = Auth::new(Some(b"other"));
        assert_eq!(reason(theirs.verify(Role::Server, &t, proof.as_ref())), RefusalReason::BadMac);
        let other_nonces = (nonces.0, nonce());
        assert_eq!(
            reason(ours.verify(Role::Server, &transcript(&other_nonces), proof.as_ref())),
            RefusalReason::BadMac
        );
        let open = Auth::new(None);
        assert_eq!(open.prove(Role::Client, &t), None);
        open.verify(Role::Client, &t, None).unwrap();
        assert_eq!(reason(open.verify(Role::Server, &t, proof.as_ref())), RefusalReason::SecretMismatch);
        assert_eq!(reason(ours.verify(Role::Server, &t, None)), RefusalReason::SecretMismatch);
    }

    #[test]
    fn long_details_are_cut_on_a_char_boundary() {
        let error = HandshakeError::local(RefusalReason::Malformed, "é".repeat(400));
        let Message::Refusal { detail, .. } = round_trip(&Message::refusal(&error)) else {
            panic!("not a refusal")
        };
        assert_eq!(detail, "é".repeat(MAX_TEXT_LEN / 2));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128)) {
            let _ = Message::decode(Bytes::from(bytes));
        }
    }
}
