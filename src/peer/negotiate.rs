//! The handshake exchange on a fresh TCP stream, client and server side.
//! Callers bound it with `connect_timeout`.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::config::PeerConfig;
use super::error::PeerError;
use super::framed::{FrameReader, ReadError};
use super::handshake::{
    Auth, HandshakeError, MAX_HANDSHAKE_FRAME, Message, PREAMBLE_LEN, RefusalReason, Role, Transcript,
    check_preamble, nonce, preamble,
};

/// A connection whose handshake succeeded.
#[derive(Debug)]
pub(crate) struct Established {
    /// The other side's node id.
    pub(crate) node_id: String,
    /// The reader, holding whatever arrived after the handshake.
    pub(crate) reader: FrameReader,
}

/// Connects as a client to the node expected to be `expected_node`.
pub(crate) async fn client_side(
    stream: &mut TcpStream,
    config: &PeerConfig,
    auth: &Auth,
    expected_node: &str,
) -> Result<Established, PeerError> {
    let client_nonce = nonce();
    let hello = Message::Hello {
        node_id: config.node_id.clone(),
        cluster_name: config.cluster_name.clone(),
        nonce: client_nonce,
    };
    send(stream, &preamble(), &hello).await?;
    check_preamble(&read_preamble(stream).await?)?;
    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME);
    let (server_id, server_nonce, server_mac) = match read_message(stream, &mut reader, &[]).await? {
        Message::Welcome { node_id, nonce, mac } => (node_id, nonce, mac),
        other => return Err(unexpected(stream, &[], other, "welcome").await),
    };
    let transcript = Transcript {
        client_id: &config.node_id,
        server_id: &server_id,
        cluster_name: &config.cluster_name,
        client_nonce: &client_nonce,
        server_nonce: &server_nonce,
    };
    let verdict = if server_id == expected_node {
        auth.verify(Role::Server, &transcript, server_mac.as_ref())
    } else {
        let detail = format!("expected '{expected_node}', found '{server_id}'");
        Err(HandshakeError::local(RefusalReason::WrongNode, detail))
    };
    if let Err(error) = verdict {
        return Err(refuse(stream, &[], error).await);
    }
    send(stream, &[], &Message::Proof { mac: auth.prove(Role::Client, &transcript) }).await?;
    match read_message(stream, &mut reader, &[]).await? {
        Message::Ready => Ok(Established { node_id: server_id, reader }),
        other => Err(unexpected(stream, &[], other, "ready").await),
    }
}

/// Accepts a client's handshake.
pub(crate) async fn server_side(
    stream: &mut TcpStream,
    config: &PeerConfig,
    auth: &Auth,
) -> Result<Established, PeerError> {
    let theirs = read_preamble(stream).await?;
    if let Err(error) = check_preamble(&theirs) {
        if error.reason == RefusalReason::BadMagic {
            // Not our protocol: say nothing.
            return Err(error.into());
        }
        return Err(refuse(stream, &preamble(), error).await);
    }
    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME);
    let (client_id, cluster_name, client_nonce) = match read_message(stream, &mut reader, &preamble()).await?
    {
        Message::Hello { node_id, cluster_name, nonce } => (node_id, cluster_name, nonce),
        other => return Err(unexpected(stream, &preamble(), other, "hello").await),
    };
    if cluster_name != config.cluster_name {
        let detail = format!("peer is in cluster '{cluster_name}', this node in '{}'", config.cluster_name);
        return Err(
            refuse(stream, &preamble(), HandshakeError::local(RefusalReason::WrongCluster, detail)).await
        );
    }
    if client_id.is_empty() {
        let error = HandshakeError::local(RefusalReason::Malformed, "empty node id");
        return Err(refuse(stream, &preamble(), error).await);
    }
    let server_nonce = nonce();
    let transcript = Transcript {
        client_id: &client_id,
        server_id: &config.node_id,
        cluster_name: &config.cluster_name,
        client_nonce: &client_nonce,
        server_nonce: &server_nonce,
    };
    let welcome = Message::Welcome {
        node_id: config.node_id.clone(),
        nonce: server_nonce,
        mac: auth.prove(Role::Server, &transcript),
    };
    send(stream, &preamble(), &welcome).await?;
    let client_mac = match read_message(stream, &mut reader, &[]).await? {
        Message::Proof { mac } => mac,
        other => return Err(unexpected(stream, &[], other, "proof").await),
    };
    if let Err(error) = auth.verify(Role::Client, &transcript, client_mac.as_ref()) {
        return Err(refuse(stream, &[], error).await);
    }
    send(stream, &[], &Message::Ready).await?;
    Ok(Established { node_id: client_id, reader })
}

async fn send(stream: &mut TcpStream, prefix: &[u8], message: &Message) -> Result<(), PeerError> {
    let mut out = BytesMut::from(prefix);
    out.extend_from_slice(&message.encode());
    stream.write_all(&out).await.map_err(|e| io_failure("write", &e))
}

async fn read_preamble(stream: &mut TcpStream) -> Result<[u8; PREAMBLE_LEN], PeerError> {
    let mut theirs = [0; PREAMBLE_LEN];
    stream.read_exact(&mut theirs).await.map_err(|e| io_failure("read", &e))?;
    Ok(theirs)
}

/// The next handshake message. A refusal of ours for a bad one follows
/// `prefix` (the preamble when the server has not sent it yet).
async fn read_message(
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    prefix: &[u8],
) -> Result<Message, PeerError> {
    let body: Bytes = match reader.next(stream).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            return Err(PeerError::ConnectFailed("peer closed the connection during the handshake".into()));
        }
        Err(ReadError::Io(e)) => return Err(io_failure("read", &e)),
        Err(ReadError::TooLarge(e)) => {
            let error = HandshakeError::local(RefusalReason::Malformed, e.to_string());
            return Err(refuse(stream, prefix, error).await);
        }
    };
    match Message::decode(body) {
        Ok(message) => Ok(message),
        Err(e) => {
            Err(refuse(stream, prefix, HandshakeError::local(RefusalReason::Malformed, e.to_string())).await)
        }
    }
}

/// A message other than `expected`: the peer's refusal, or a refusal of
/// ours (after `prefix`, the preamble when the server has not sent it yet).
async fn unexpected(stream: &mut TcpStream, prefix: &[u8], message: Message, expected: &str) -> PeerError {
    match message {
        Message::Refusal { reason, detail } => HandshakeError { reason, by_peer: true, detail }.into(),
        other => {
            let detail = format!("expected {expected}, got {other:?}");
            refuse(stream, prefix, HandshakeError::local(RefusalReason::Malformed, detail)).await
        }
    }
}

/// Tells the other side why it is refused (best effort) and returns the
/// error for this side.
async fn refuse(stream: &mut TcpStream, prefix: &[u8], error: HandshakeError) -> PeerError {
    if let Err(e) = send(stream, prefix, &Message::refusal(&error)).await {
        tracing::debug!("could not send the handshake refusal: {e}");
    }
    error.into()
}

fn io_failure(what: &str, error: &std::io::Error) -> PeerError {
    PeerError::ConnectFailed(format!("handshake {what} failed: {error}"))
}
