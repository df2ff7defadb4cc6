//! Commands: the table, the dispatcher, and one file per family.
//!
//! A request's arguments go through [`execute`]: look the command up
//! (case-insensitively), check arity and authentication as Redis does, then
//! run its handler, which returns the reply as a [`Frame`] (never writing to
//! the socket). Errors are typed ([`CmdError`]) and turned into RESP error
//! text in one place.
//!
//! Each family file exports `COMMANDS: &[CommandSpec]`, its part of the
//! table, with the metadata `COMMAND` reports.

pub mod args;
pub mod client;
pub mod cluster;
pub mod command;
pub mod connection;
mod context;
mod error;
pub mod expire;
pub mod hash;
pub mod keys;
pub mod memory;
pub mod object;
pub mod scan;
pub mod server;
pub mod shoal;
mod spec;
mod stats;
pub mod string;
#[cfg(test)]
mod testing;
pub mod transaction;

use ahash::AHashMap as HashMap;
use std::sync::LazyLock;

use bytes::Bytes;

pub use context::{
    ClientMeta, ClientShared, ClientState, Ctx, OpsSample, ServerState, ServerStats, Settings,
};
pub use error::CmdError;
pub use shoal::{RebalanceInfo, RebalanceSource};
pub use spec::{CommandSpec, Handler};
pub use stats::{CommandCells, CommandStats, CommandTotals};

use crate::protocol::Frame;
use crate::store::{ENTRY_OVERHEAD, alloc_size};

/// Every command, in a fixed order (an entry's index identifies it).
pub static TABLE: LazyLock<CommandTable> = LazyLock::new(CommandTable::build);

/// The command table with a by-name index.
pub struct CommandTable {
    commands: Vec<&'static CommandSpec>,
    by_name: HashMap<&'static str, u16>,
}

impl CommandTable {
    fn build() -> CommandTable {
        let families: &[&'static [CommandSpec]] = &[
            connection::COMMANDS,
            string::COMMANDS,
            string::BIT_COMMANDS,
            hash::COMMANDS,
            keys::COMMANDS,
            expire::COMMANDS,
            scan::COMMANDS,
            command::COMMANDS,
            server::COMMANDS,
            memory::COMMANDS,
            object::COMMANDS,
            client::COMMANDS,
            cluster::COMMANDS,
            shoal::COMMANDS,
            transaction::COMMANDS,
        ];
        let commands: Vec<&'static CommandSpec> = families.iter().flat_map(|f| f.iter()).collect();
        let by_name = commands.iter().enumerate().map(|(i, c)| (c.name, i as u16)).collect();
        CommandTable { commands, by_name }
    }

    /// Every top-level command.
    pub fn commands(&self) -> &[&'static CommandSpec] {
        &self.commands
    }

    /// The command called `name` (any case), with its index.
    pub fn lookup(&self, name: &[u8]) -> Option<(u16, &'static CommandSpec)> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        let lower = std::str::from_utf8(lower).ok()?;
        let index = *self.by_name.get(lower)?;
        Some((index, self.commands[index as usize]))
    }

    /// The command at `index`.
    pub fn get(&self, index: u16) -> Option<&'static CommandSpec> {
        self.commands.get(index as usize).copied()
    }
}

/// Finds the spec that will run `args`: the command, or its subcommand.
pub fn resolve(args: &[Bytes]) -> Result<(u16, &'static CommandSpec), CmdError> {
    let (index, spec) = TABLE.lookup(&args[0]).ok_or_else(|| unknown_command(args))?;
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok((index, spec));
    }
    let sub = spec
        .subcommands
        .iter()
        .find(|s| {
            let sub_name = &s.name[s.name.find('|').map_or(0, |p| p + 1)..];
            args[1].eq_ignore_ascii_case(sub_name.as_bytes())
        })
        .ok_or_else(|| CmdError::UnknownSubcommand {
            sub: sanitize(&args::text(&args[1]), 128),
            container: spec.name.to_uppercase(),
        })?;
    Ok((index, sub))
}

/// Runs one request and returns its reply.
pub fn execute(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    match resolve(args) {
        Ok((index, spec)) => execute_resolved(ctx, index, spec, args),
        Err(err) => {
            ctx.server.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            transaction::flag_aborted(ctx.client);
            Frame::Error(err.to_string())
        }
    }
}

/// Runs a request already resolved with [`resolve`] (the router resolves
/// once to decide where a request runs).
pub fn execute_resolved(ctx: &mut Ctx<'_>, index: u16, spec: &'static CommandSpec, args: &[Bytes]) -> Frame {
    let _now = crate::store::freeze_now();
    let _untouched = untouched(ctx.client, spec);
    ctx.server.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match dispatch(ctx, index, spec, args) {
        Ok(frame) => frame,
        Err(err) => Frame::Error(err.to_string()),
    }
}

/// Runs one queued command of a transaction: the caller (`EXEC`) holds the
/// store's exclusive gate, and the command was checked when it was queued.
pub fn execute_in_transaction(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Frame {
    let _now = crate::store::freeze_now();
    ctx.server.stats.total_commands_processed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let result = resolve(args).and_then(|(index, spec)| {
        ctx.client.shared.last_cmd.store(index, std::sync::atomic::Ordering::Relaxed);
        let _untouched = untouched(ctx.client, spec);
        (spec.handler)(ctx, args)
    });
    result.unwrap_or_else(|err| Frame::Error(err.to_string()))
}

/// Under `CLIENT NO-TOUCH ON`, a command other than `TOUCH` leaves the keys
/// it reads untouched, as Redis 7.2 does.
fn untouched(client: &ClientState, spec: &CommandSpec) -> Option<crate::store::Untouched> {
    (spec.name != "touch" && client.no_touch()).then(crate::store::leave_untouched)
}

fn dispatch(
    ctx: &mut Ctx<'_>,
    index: u16,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Result<Frame, CmdError> {
    let checked = check(ctx, spec, args);
    if checked.is_err() {
        transaction::flag_aborted(ctx.client);
    }
    checked?;
    ctx.client.shared.last_cmd.store(index, std::sync::atomic::Ordering::Relaxed);
    if let Some(incoming) = oom_estimate(ctx.client, spec, args)
        && let Err(err) = make_room(ctx.store, incoming)
    {
        transaction::flag_aborted(ctx.client);
        return Err(err);
    }
    if ctx.client.multi.is_some() && !transaction::runs_in_multi(spec) {
        return transaction::queue(ctx, spec, args);
    }
    if transaction::takes_whole_store(spec) {
        let _exclusive = ctx.store.exclusive();
        return (spec.handler)(ctx, args);
    }
    let _shared = ctx.store.shared();
    (spec.handler)(ctx, args)
}

/// What Redis checks before running or queueing a command.
fn check(ctx: &Ctx<'_>, spec: &CommandSpec, args: &[Bytes]) -> Result<(), CmdError> {
    if !spec.arity_ok(args.len()) {
        return Err(CmdError::WrongArity(spec.name.to_string()));
    }
    if !ctx.client.authenticated && !spec.has_flag("no_auth") {
        return Err(CmdError::NoAuth);
    }
    Ok(())
}

/// What running the command may add to memory, for commands that must
/// make room first: those with Redis's `denyoom` flag, `EXEC` for its
/// queued commands that have it, and, as in Redis, any command queued
/// inside `MULTI` (queueing takes memory too).
fn oom_estimate(client: &ClientState, spec: &CommandSpec, args: &[Bytes]) -> Option<u64> {
    if spec.has_flag("denyoom") {
        return Some(write_estimate(args));
    }
    match (&client.multi, spec.name) {
        (Some(multi), "exec") => transaction::queued_estimate(&multi.queued),
        (Some(_), "discard" | "quit" | "reset") | (None, _) => None,
        (Some(_), _) => Some(write_estimate(args)),
    }
}

/// Makes room for `incoming` bytes under `maxmemory` as the policy says,
/// or refuses with Redis's OOM error (counted).
pub fn make_room(store: &crate::store::Store, incoming: u64) -> Result<(), CmdError> {
    store.make_room(incoming, &|slot| evictable_slot(store, slot)).map_err(|_| {
        store.stats().oom_rejections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        CmdError::OutOfMemory
    })
}

/// About what a write adds to the accounted memory: its arguments (keys and
/// values) as allocated, plus one entry's overhead. DESIGN.md section 5
/// refuses or makes room for a write that would take memory past
/// `maxmemory`, not only once memory is already past it.
pub(crate) fn write_estimate(args: &[Bytes]) -> u64 {
    let payload: usize = args[1..].iter().map(|a| alloc_size(a.len())).sum();
    (payload + ENTRY_OVERHEAD) as u64
}

/// Which slots eviction may take keys from: the slots this node owns
/// (replica copies are evicted by their owner, whose deletions replicate).
pub(crate) fn evictable_slot(store: &crate::store::Store, slot: crate::keyslot::Slot) -> bool {
    store.owns(slot as usize)
}

fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut quoted = String::new();
    for arg in &args[1..] {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        let text = args::text(arg);
        let cut: String = text.chars().take(room).collect();
        quoted.push_str(&format!("'{cut}' "));
    }
    CmdError::UnknownCommand {
        name: sanitize(&args::text(&args[0]), 128),
        args: sanitize(&quoted, usize::MAX),
    }
}

/// Cuts `text` to `max` characters and replaces line breaks with spaces, as
/// Redis does for texts it echoes in errors.
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect()
}

/// Shorthand for `Ok(Frame::ok())`.
pub fn ok() -> Result<Frame, CmdError> {
    Ok(Frame::ok())
}

/// Checks a client name as Redis does: no spaces, newlines or other
/// characters outside `!`..`~`.
pub fn client_name_valid(name: &[u8]) -> Result<(), CmdError> {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(CmdError::err("Client names cannot contain spaces, newlines or special characters."))
    }
}
