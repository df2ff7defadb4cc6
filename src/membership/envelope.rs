//! The envelope around every gossip packet: pure bytes in, bytes out.
//!
//! foca authenticates nothing, so each UDP datagram carries our own header:
//!
//! ```text
//! magic "SHG" | version u8 | key id u8 | cluster tag [4] | MAC [32] (key id != 0) | foca payload
//! ```
//!
//! The cluster tag is the low 32 bits of XXH3-64 of the cluster name, so
//! nodes of another cluster are dropped before their payload is decoded.
//! With a secret the MAC is BLAKE3 in keyed mode over everything before it
//! and the payload; the key is derived from the secret with BLAKE3's
//! `derive_key`, so a secret of any length works. The key id names the key a
//! packet was sealed with, so a keyring can accept an old and a new secret
//! during a rotation. Key id 0 means "no MAC"; a node with a secret refuses
//! such packets, and a node without one refuses MACed packets (mixed
//! configurations fail loudly instead of half-working).

use xxhash_rust::xxh3::xxh3_64;

/// First bytes of every packet.
const MAGIC: [u8; 3] = *b"SHG";
/// Envelope format version; a change of layout or of the foca wire format
/// bumps it.
pub(crate) const VERSION: u8 = 1;
/// Bytes before the MAC: magic, version, key id, cluster tag.
const HEADER_LEN: usize = MAGIC.len() + 1 + 1 + 4;
/// BLAKE3 output length.
const MAC_LEN: usize = blake3::OUT_LEN;
/// Context strings for BLAKE3's key derivation (fixed forever).
const MAC_KEY_CONTEXT: &str = "shoal gossip envelope MAC key v1";
const KEY_ID_CONTEXT: &str = "shoal gossip envelope key id v1";

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    /// Shorter than a header or not starting with the magic: not ours.
    #[error("bad magic")]
    BadMagic,
    /// Our magic with an envelope version this build does not speak.
    #[error("unsupported envelope version")]
    BadVersion,
    /// Sent by a node of another cluster name.
    #[error("wrong cluster")]
    WrongCluster,
    /// No MAC although this node requires one, a MAC although this node has
    /// no secret, or a key id this node does not hold.
    #[error("unknown or missing key")]
    UnknownKey,
    /// The MAC does not match: wrong secret or altered packet.
    #[error("bad MAC")]
    BadMac,
}

/// One MAC key and the id written into packets sealed with it.
#[derive(Clone)]
struct MacKey {
    id: u8,
    key: [u8; 32],
}

impl MacKey {
    fn derive(secret: &[u8]) -> MacKey {
        let id_byte = blake3::derive_key(KEY_ID_CONTEXT, secret)[0];
        // Ids 1..=255; 0 is reserved for "no MAC".
        MacKey { id: id_byte % 255 + 1, key: blake3::derive_key(MAC_KEY_CONTEXT, secret) }
    }

    fn mac(&self, header: &[u8], payload: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(header);
        hasher.update(payload);
        hasher.finalize()
    }
}

/// Seals and opens packets for one cluster name and set of secrets.
#[derive(Clone)]
pub(crate) struct Envelope {
    cluster_tag: [u8; 4],
    /// The first key seals; every key opens. Empty: no authentication.
    keys: Vec<MacKey>,
}

impl Envelope {
    /// An envelope for `cluster_name`. `secrets[0]` seals; all of them are
    /// accepted when opening. No secrets: packets carry no MAC.
    pub(crate) fn new(cluster_name: &str, secrets: &[&[u8]]) -> Envelope {
        let tag = (xxh3_64(cluster_name.as_bytes()) as u32).to_le_bytes();
        Envelope { cluster_tag: tag, keys: secrets.iter().map(|s| MacKey::derive(s)).collect() }
    }

    /// Bytes the envelope adds to a payload.
    pub(crate) fn overhead(&self) -> usize {
        if self.keys.is_empty() { HEADER_LEN } else { HEADER_LEN + MAC_LEN }
    }

    /// Writes the sealed packet for `payload` into `out` (cleared first).
    pub(crate) fn seal(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.keys.first().map_or(0, |k| k.id));
        out.extend_from_slice(&self.cluster_tag);
        if let Some(key) = self.keys.first() {
            let mac = key.mac(&out[..HEADER_LEN], payload);
            out.extend_from_slice(mac.as_bytes());
        }
        out.extend_from_slice(payload);
    }

    /// The payload of `packet`, or why it must be dropped.
    pub(crate) fn open<'a>(&self, packet: &'a [u8]) -> Result<&'a [u8], Rejection> {
        if packet.len() < HEADER_LEN || packet[..MAGIC.len()] != MAGIC {
            return Err(Rejection::BadMagic);
        }
        let (header, rest) = packet.split_at(HEADER_LEN);
        if header[3] != VERSION {
            return Err(Rejection::BadVersion);
        }
        if header[5..9] != self.cluster_tag {
            return Err(Rejection::WrongCluster);
        }
        let key_id = header[4];
        if self.keys.is_empty() {
            return if key_id == 0 { Ok(rest) } else { Err(Rejection::UnknownKey) };
        }
        if key_id == 0 || !self.keys.iter().any(|k| k.id == key_id) {
            return Err(Rejection::UnknownKey);
        }
        if rest.len() < MAC_LEN {
            return Err(Rejection::BadMac);
        }
        let (mac, payload) = rest.split_at(MAC_LEN);
        let received = blake3::Hash::from_bytes(mac.try_into().expect("MAC_LEN bytes"));
        // Two secrets may share a key id (1 in 255): try each candidate.
        // `Hash` equality is constant-time.
        let valid = self.keys.iter().filter(|k| k.id == key_id).any(|k| k.mac(header, payload) == received);
        if valid { Ok(payload) } else { Err(Rejection::BadMac) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(envelope: &Envelope, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        envelope.seal(payload, &mut out);
        out
    }

    #[test]
    fn round_trip_without_secret() {
        let env = Envelope::new("shoal", &[]);
        let packet = sealed(&env, b"hello");
        assert_eq!(packet.len(), env.overhead() + 5);
        assert_eq!(env.open(&packet), Ok(&b"hello"[..]));
    }

    #[test]
    fn round_trip_with_secret() {
        let env = Envelope::new("shoal", &[b"s3cret"]);
        let packet = sealed(&env, b"hello");
        assert_eq!(packet.len(), env.overhead() + 5);
        assert_eq!(env.overhead(), HEADER_LEN + 32);
        assert_eq!(env.open(&packet), Ok(&b"hello"[..]));
        assert_eq!(env.open(&sealed(&env, b"")), Ok(&b""[..]));
    }

    #[test]
    fn garbage_and_truncation_are_bad_magic() {
        let env = Envelope::new("shoal", &[]);
        assert_eq!(env.open(b""), Err(Rejection::BadMagic));
        assert_eq!(env.open(b"SHG"), Err(Rejection::BadMagic));
        assert_eq!(env.open(b"GET / HTTP/1.1\r\n"), Err(Rejection::BadMagic));
    }

    #[test]
    fn other_version_is_rejected() {
        let env = Envelope::new("shoal", &[]);
        let mut packet = sealed(&env, b"x");
        packet[3] = VERSION + 1;
        assert_eq!(env.open(&packet), Err(Rejection::BadVersion));
    }

    #[test]
    fn other_cluster_is_rejected() {
        let ours = Envelope::new("shoal", &[b"k"]);
        let theirs = Envelope::new("other", &[b"k"]);
        assert_eq!(ours.open(&sealed(&theirs, b"x")), Err(Rejection::WrongCluster));
    }

    #[test]
    fn wrong_secret_or_tampering_is_rejected() {
        let ours = Envelope::new("shoal", &[b"right"]);
        let theirs = Envelope::new("shoal", &[b"wrong"]);
        let forged = sealed(&theirs, b"payload");
        // Different secrets usually differ in key id too; force the same id
        // to reach the MAC check.
        let mut same_id = forged.clone();
        same_id[4] = ours.keys[0].id;
        assert_eq!(ours.open(&same_id), Err(Rejection::BadMac));

        let mut tampered = sealed(&ours, b"payload");
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(ours.open(&tampered), Err(Rejection::BadMac));

        let mut cut = sealed(&ours, b"payload");
        cut.truncate(HEADER_LEN + 10);
        assert_eq!(ours.open(&cut), Err(Rejection::BadMac));
    }

    #[test]
    fn secret_and_no_secret_do_not_mix() {
        let open = Envelope::new("shoal", &[]);
        let keyed = Envelope::new("shoal", &[b"k"]);
        assert_eq!(keyed.open(&sealed(&open, b"x")), Err(Rejection::UnknownKey));
        assert_eq!(open.open(&sealed(&keyed, b"x")), Err(Rejection::UnknownKey));
    }

    #[test]
    fn rotation_accepts_old_and_new_secret() {
        let old = Envelope::new("shoal", &[b"old"]);
        let new = Envelope::new("shoal", &[b"new"]);
        let rotating = Envelope::new("shoal", &[b"new", b"old"]);
        assert_eq!(rotating.open(&sealed(&old, b"a")), Ok(&b"a"[..]));
        assert_eq!(rotating.open(&sealed(&new, b"b")), Ok(&b"b"[..]));
        assert_eq!(new.open(&sealed(&rotating, b"c")), Ok(&b"c"[..]));
    }

    #[test]
    fn header_layout_is_stable() {
        let env = Envelope::new("shoal", &[]);
        let packet = sealed(&env, b"p");
        let tag = (xxh3_64(b"shoal") as u32).to_le_bytes();
        assert_eq!(&packet[..5], b"SHG\x01\x00");
        assert_eq!(&packet[5..9], &tag);
        assert_eq!(&packet[9..], b"p");
    }
}
