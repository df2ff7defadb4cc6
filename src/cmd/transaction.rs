//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH, with Redis's semantics.
//!
//! After `MULTI` the dispatcher queues every command (answering `+QUEUED`)
//! instead of running it; a command refused while queueing (unknown, wrong
//! arity, ...) marks the transaction so that `EXEC` answers `EXECABORT`.
//! `EXEC` runs the queue holding the store's exclusive gate, so no other
//! command runs in between, exactly as Redis's single thread does.
//!
//! `WATCH` keeps a [`KeyStamp`] per key, taken by the node that owns the key,
//! and the ring view it was taken in; nothing is registered in the store, so
//! a closed connection leaves nothing behind and a transaction can be sent
//! whole to the owner of its keys. `EXEC` compares each stamp with the key's
//! stamp at that moment (and the view with the current one) and answers a
//! null array, running nothing, if anything may have changed.

use bytes::Bytes;

use super::{CmdError, CommandSpec, Ctx, ok};
use crate::protocol::Frame;
use crate::store::KeyStamp;

/// This family's part of the command table.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "multi",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        handler: multi,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "exec",
        arity: 1,
        flags: &["noscript", "loading", "stale", "skip_slowlog"],
        acl: &["@slow", "@transaction"],
        handler: exec,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "discard",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        handler: discard,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "watch",
        arity: -2,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        first_key: 1,
        last_key: -1,
        step: 1,
        acl: &["@fast", "@transaction"],
        handler: watch,
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "unwatch",
        arity: 1,
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        handler: unwatch,
        ..CommandSpec::BASE
    },
];

/// Commands that run at once even inside `MULTI` (Redis's list).
const RUN_IN_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// A transaction being queued, between `MULTI` and `EXEC`/`DISCARD`.
#[derive(Debug, Default)]
pub struct Multi {
    /// The queued commands, arguments copied out of the read buffer.
    pub queued: Vec<Vec<Bytes>>,
    /// Set when a command was refused while queueing: `EXEC` will abort.
    pub aborted: bool,
}

/// A key under `WATCH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The key.
    pub key: Bytes,
    /// Its stamp when watched, taken by the node that owned it.
    pub stamp: KeyStamp,
    /// The ring view the stamp was taken in: a different view at `EXEC`
    /// means the key may have moved, and the transaction aborts.
    pub view_id: u64,
}

/// True for commands that run at once inside `MULTI` instead of queueing.
pub fn runs_in_multi(spec: &CommandSpec) -> bool {
    RUN_IN_MULTI.contains(&spec.name)
}

/// Queues `args` (already checked by the dispatcher) in the client's
/// transaction, or refuses it as Redis does for commands that must not
/// run inside one.
pub(super) fn queue(ctx: &mut Ctx<'_>, spec: &CommandSpec, args: &[Bytes]) -> Result<Frame, CmdError> {
    let multi = ctx.client.multi.as_mut().expect("queue is called inside MULTI");
    if spec.has_flag("no_multi") {
        multi.aborted = true;
        return Err(CmdError::err("Command not allowed inside a transaction"));
    }
    multi.queued.push(args.iter().map(|a| Bytes::copy_from_slice(a)).collect());
    Ok(Frame::Simple("QUEUED".into()))
}

/// Marks the client's transaction, if any, so that `EXEC` aborts: called
/// for every command refused while queueing.
pub fn flag_aborted(client: &mut super::ClientState) {
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
}

fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Result<Frame, CmdError> {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ok()
}

fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Result<Frame, CmdError> {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    ctx.client.watched.clear();
    ok()
}

fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Result<Frame, CmdError> {
    ctx.client.watched.clear();
    ok()
}

/// `WATCH` of keys this node owns (the router takes the stamps of keys
/// owned elsewhere from their owners).
fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Result<Frame, CmdError> {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let view_id = ctx.server.topology.load().view_id();
    for key in &args[1..] {
        let stamp = ctx.store.lock(key).stamp(key);
        ctx.client.watched.push(Watched { key: Bytes::copy_from_slice(key), stamp, view_id });
    }
    ok()
}

/// `EXEC` of a transaction whose keys this node owns. The dispatcher holds
/// the store's exclusive gate while it runs (see [`takes_whole_store`]).
fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> Result<Frame, CmdError> {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    let watched = std::mem::take(&mut ctx.client.watched);
    if multi.aborted {
        return Err(CmdError::Other("EXECABORT Transaction discarded because of previous errors.".into()));
    }
    let view_id = ctx.server.topology.load().view_id();
    if watched.iter().any(|w| w.view_id != view_id) {
        return Ok(Frame::NullArray);
    }
    Ok(run_queued(ctx, &watched, &multi.queued))
}

/// Runs a transaction's queue unless a watched key changed (a null array
/// then). The caller holds the store's exclusive gate.
pub fn run_queued(ctx: &mut Ctx<'_>, watched: &[Watched], queued: &[Vec<Bytes>]) -> Frame {
    let changed = watched.iter().any(|w| w.stamp.changed_since(&ctx.store.lock(&w.key).stamp(&w.key)));
    if changed {
        return Frame::NullArray;
    }
    Frame::Array(queued.iter().map(|args| super::execute_in_transaction(ctx, args)).collect())
}

/// What a transaction's queued commands flagged `denyoom` may add to
/// memory (`None` when it has none), so `EXEC` makes room first.
pub fn queued_estimate(queued: &[Vec<Bytes>]) -> Option<u64> {
    let denyoom =
        queued.iter().filter(|args| super::resolve(args).is_ok_and(|(_, spec)| spec.has_flag("denyoom")));
    denyoom.map(|args| super::write_estimate(args)).reduce(|a, b| a + b)
}

/// True for commands that must hold the store's exclusive gate while they
/// run, rather than the shared one every other command holds.
pub fn takes_whole_store(spec: &CommandSpec) -> bool {
    spec.name == "exec"
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestClient;
    use crate::protocol::Frame;

    fn err(text: &str) -> Frame {
        Frame::Error(text.into())
    }

    #[test]
    fn queues_then_runs_every_command_in_order() {
        let mut c = TestClient::with_clients(2);
        assert_eq!(c.run(&["MULTI"]), Frame::ok());
        assert_eq!(c.run(&["SET", "k", "1"]), Frame::Simple("QUEUED".into()));
        assert_eq!(c.run(&["INCR", "k"]), Frame::Simple("QUEUED".into()));
        assert_eq!(c.run(&["GET", "k"]), Frame::Simple("QUEUED".into()));
        assert_eq!(c.run_as(1, &["GET", "k"]), Frame::Null, "nothing runs before EXEC");
        let reply = c.run(&["EXEC"]);
        assert_eq!(reply, Frame::Array(vec![Frame::ok(), Frame::Integer(2), Frame::bulk("2")]));
        assert_eq!(c.run(&["EXEC"]), err("ERR EXEC without MULTI"));
    }

    #[test]
    fn errors_while_queueing_abort_and_errors_while_running_do_not() {
        let mut c = TestClient::new();
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["SET", "k"]), err("ERR wrong number of arguments for 'set' command"));
        assert_eq!(c.run(&["SET", "k", "v"]), Frame::Simple("QUEUED".into()));
        assert_eq!(c.run(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
        assert_eq!(c.run(&["GET", "k"]), Frame::Null);

        c.run(&["SET", "s", "text"]);
        c.run(&["MULTI"]);
        c.run(&["INCR", "s"]);
        c.run(&["SET", "k", "v"]);
        let Frame::Array(replies) = c.run(&["EXEC"]) else { panic!("EXEC answers an array") };
        assert_eq!(replies[0], err("ERR value is not an integer or out of range"));
        assert_eq!(replies[1], Frame::ok());
    }

    #[test]
    fn nested_multi_and_watch_inside_multi_are_refused_without_aborting() {
        let mut c = TestClient::new();
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["MULTI"]), err("ERR MULTI calls can not be nested"));
        assert_eq!(c.run(&["WATCH", "k"]), err("ERR WATCH inside MULTI is not allowed"));
        c.run(&["SET", "k", "v"]);
        assert_eq!(c.run(&["EXEC"]), Frame::Array(vec![Frame::ok()]));
        assert_eq!(c.run(&["DISCARD"]), err("ERR DISCARD without MULTI"));
    }

    #[test]
    fn a_watched_key_changed_by_another_client_aborts() {
        let mut c = TestClient::with_clients(2);
        c.run(&["SET", "k", "1"]);
        c.run(&["WATCH", "k"]);
        c.run_as(1, &["SET", "k", "2"]);
        c.run(&["MULTI"]);
        c.run(&["SET", "k", "3"]);
        assert_eq!(c.run(&["EXEC"]), Frame::NullArray);
        assert_eq!(c.run(&["GET", "k"]), Frame::bulk("2"));

        // EXEC unwatches: the next transaction runs.
        c.run(&["MULTI"]);
        c.run(&["SET", "k", "3"]);
        assert_eq!(c.run(&["EXEC"]), Frame::Array(vec![Frame::ok()]));
    }

    #[test]
    fn watch_sees_creation_deletion_and_expiry() {
        let mut c = TestClient::with_clients(2);
        // Created and deleted again while watched (absent both times).
        c.run(&["WATCH", "gone"]);
        c.run_as(1, &["SET", "gone", "v"]);
        c.run_as(1, &["DEL", "gone"]);
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["EXEC"]), Frame::NullArray);

        // Expired while watched.
        c.run(&["SET", "ttl", "v", "PX", "1"]);
        c.run(&["WATCH", "ttl"]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["EXEC"]), Frame::NullArray);

        // Untouched: runs; UNWATCH forgets.
        c.run(&["SET", "a", "1"]);
        c.run(&["WATCH", "a"]);
        c.run(&["UNWATCH"]);
        c.run_as(1, &["SET", "a", "2"]);
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["EXEC"]), Frame::Array(vec![]));
    }

    #[test]
    fn discard_drops_the_queue_and_the_watches() {
        let mut c = TestClient::with_clients(2);
        c.run(&["WATCH", "k"]);
        c.run(&["MULTI"]);
        c.run(&["SET", "k", "v"]);
        assert_eq!(c.run(&["DISCARD"]), Frame::ok());
        assert_eq!(c.run(&["GET", "k"]), Frame::Null);
        c.run_as(1, &["SET", "k", "other"]);
        c.run(&["MULTI"]);
        assert_eq!(c.run(&["EXEC"]), Frame::Array(vec![]), "DISCARD unwatched k");
    }
}
