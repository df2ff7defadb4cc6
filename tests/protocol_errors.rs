//! Bad and unusual input over real sockets against an in-process node:
//! protocol errors close only the offending connection, inline commands
//! and pipelining work, a slow client stalls nobody, connection limits and
//! idle timeouts apply.

mod common;

use std::time::{Duration, Instant};

use common::{BlockingNode, DEADLINE, RespConn, bulk, error, simple, test_config};
use shoal::protocol::Frame;

fn connect(node: &BlockingNode) -> RespConn {
    RespConn::connect(node.addr()).expect("connect")
}

fn assert_pong(conn: &mut RespConn) {
    assert_eq!(conn.call(["PING"]).expect("PING reply"), simple("PONG"));
}

/// Sends `bad`, expects `-ERR Protocol error: <text>` and a close, and
/// checks that clients connected before and after still get PONG.
fn protocol_error_closes_only_that_connection(bad: &[u8], text: &str) {
    let node = BlockingNode::start_default();
    let mut before = connect(&node);
    assert_pong(&mut before);

    let mut offender = connect(&node);
    offender.send_raw(bad).expect("send");
    let reply = offender.read_reply().expect("error reply");
    assert_eq!(reply, error(&format!("ERR Protocol error: {text}")));
    assert!(offender.wait_closed(DEADLINE), "connection not closed after a protocol error");

    assert_pong(&mut before);
    let mut after = connect(&node);
    assert_pong(&mut after);
    node.shutdown();
}

#[test]
fn oversized_bulk_length() {
    protocol_error_closes_only_that_connection(b"*1\r\n$999999999999\r\n", "invalid bulk length");
}

#[test]
fn negative_bulk_length() {
    protocol_error_closes_only_that_connection(b"*1\r\n$-5\r\n", "invalid bulk length");
}

#[test]
fn non_numeric_multibulk_length() {
    protocol_error_closes_only_that_connection(b"*abc\r\n", "invalid multibulk length");
}

#[test]
fn oversized_multibulk_length() {
    protocol_error_closes_only_that_connection(b"*999999999999\r\n", "invalid multibulk length");
}

#[test]
fn multibulk_element_that_is_not_a_bulk_string() {
    protocol_error_closes_only_that_connection(b"*1\r\nx\r\n", "expected '$', got 'x'");
}

#[test]
fn unbalanced_quotes_in_inline_command() {
    protocol_error_closes_only_that_connection(b"ECHO \"abc\r\n", "unbalanced quotes in request");
}

#[test]
fn inline_commands() {
    let node = BlockingNode::start_default();
    let mut conn = connect(&node);
    conn.send_raw(b"PING\r\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), simple("PONG"));
    conn.send_raw(b"ECHO \"a b\"\r\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), bulk("a b"));
    // A bare newline ends a line too, and blank lines are skipped.
    conn.send_raw(b"\r\n\nECHO 'c d'\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), bulk("c d"));
    conn.send_raw(b"ECHO \"\\x41\\n\"\r\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), bulk("A\n"));
    node.shutdown();
}

#[test]
fn inline_set_with_quoted_value() {
    let node = BlockingNode::start_default();
    let mut conn = connect(&node);
    conn.send_raw(b"SET k \"a b\"\r\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), simple("OK"));
    conn.send_raw(b"GET k\r\n").expect("send");
    assert_eq!(conn.read_reply().expect("reply"), bulk("a b"));
    node.shutdown();
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let node = BlockingNode::start_default();
    let mut conn = connect(&node);
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(&shoal::cli::encode_command(&["ECHO", &i.to_string()]));
    }
    conn.send_raw(&batch).expect("send");
    for i in 0..1000 {
        assert_eq!(conn.read_reply().expect("reply"), bulk(&i.to_string()), "reply {i}");
    }
    node.shutdown();
}

#[test]
fn half_a_request_does_not_block_other_clients() {
    let node = BlockingNode::start_default();
    let mut slow = connect(&node);
    slow.send_raw(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel").expect("send");
    let mut other = connect(&node);
    for _ in 0..10 {
        assert_pong(&mut other);
    }
    // Nothing has come back to the slow client yet.
    let early = slow.read_reply_within(Duration::from_millis(50));
    assert!(early.is_err(), "reply to half a request: {early:?}");
    slow.send_raw(b"lo\r\n").expect("send");
    assert_eq!(slow.read_reply().expect("reply"), bulk("hello"));
    node.shutdown();
}

#[test]
fn max_clients() {
    let mut config = test_config();
    config.server.maxclients = 2;
    let node = BlockingNode::start(config);
    let mut first = connect(&node);
    let mut second = connect(&node);
    assert_pong(&mut first);
    assert_pong(&mut second);
    let mut third = connect(&node);
    assert_eq!(third.read_reply().expect("reply"), error("ERR max number of clients reached"));
    assert!(third.wait_closed(DEADLINE), "refused connection not closed");
    drop(first);
    // Once a slot is free (the node notices the close), a new client gets in.
    let admitted = common::wait_for(DEADLINE, || {
        let mut conn = connect(&node);
        matches!(conn.call(["PING"]), Ok(Frame::Simple(s)) if s == "PONG").then_some(())
    });
    assert!(admitted.is_some(), "no client admitted after one left");
    assert_pong(&mut second);
    node.shutdown();
}

#[test]
fn idle_timeout_closes_the_connection() {
    let mut config = test_config();
    config.server.timeout = 1;
    let node = BlockingNode::start(config);
    let mut idle = connect(&node);
    assert_pong(&mut idle);
    let started = Instant::now();
    assert!(idle.wait_closed(DEADLINE), "idle connection still open after {DEADLINE:?}");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed after only {:?}", started.elapsed());
    let mut fresh = connect(&node);
    assert_pong(&mut fresh);
    node.shutdown();
}

#[test]
fn quit_replies_then_closes() {
    let node = BlockingNode::start_default();
    let mut conn = connect(&node);
    assert_eq!(conn.call(["QUIT"]).expect("reply"), simple("OK"));
    assert!(conn.wait_closed(DEADLINE), "connection open after QUIT");
    node.shutdown();
}
