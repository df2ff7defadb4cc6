//! Command syntax for `help CMD` and the greyed argument hints of the
//! interactive prompt. Covers every command Shoal serves (a test checks it
//! against the server's command table) and the common Redis data-type
//! commands, so the hints help against a Redis server too.

/// One command's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHelp {
    /// Name as typed, subcommands included (`CLUSTER INFO`).
    pub name: &'static str,
    /// Argument syntax.
    pub params: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// Its group, for `help @group`.
    pub group: &'static str,
}

const fn c(
    name: &'static str,
    params: &'static str,
    summary: &'static str,
    group: &'static str,
) -> CommandHelp {
    CommandHelp { name, params, summary, group }
}

/// Every documented command, grouped.
pub const COMMANDS: &[CommandHelp] = &[
    // strings
    c("APPEND", "key value", "Appends a value to a string; returns the new length", "string"),
    c("DECR", "key", "Subtracts one from an integer value", "string"),
    c("DECRBY", "key decrement", "Subtracts a number from an integer value", "string"),
    c("GET", "key", "Returns the string value of a key", "string"),
    c(
        "GETEX",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        "Returns a string value and changes its expiry",
        "string",
    ),
    c("GETDEL", "key", "Returns a string value and deletes the key", "string"),
    c("GETRANGE", "key start end", "Returns part of a string value", "string"),
    c("GETSET", "key value", "Sets a string value and returns the old one", "string"),
    c("INCR", "key", "Adds one to an integer value", "string"),
    c("INCRBY", "key increment", "Adds a number to an integer value", "string"),
    c("INCRBYFLOAT", "key increment", "Adds a floating-point number to a value", "string"),
    c(
        "LCS",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
        "Longest common subsequence of two strings",
        "string",
    ),
    c("MGET", "key [key ...]", "Returns the values of several keys", "string"),
    c("MSET", "key value [key value ...]", "Sets several keys at once", "string"),
    c("MSETNX", "key value [key value ...]", "Sets several keys only if none of them exists", "string"),
    c("PSETEX", "key milliseconds value", "Sets a value with a time to live in milliseconds", "string"),
    c(
        "SET",
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        "Sets the string value of a key, with options for expiry and conditions",
        "string",
    ),
    c("SETEX", "key seconds value", "Sets a value with a time to live in seconds", "string"),
    c("SETNX", "key value", "Sets a value only if the key does not exist", "string"),
    c("SETRANGE", "key offset value", "Overwrites part of a string value", "string"),
    c("STRLEN", "key", "Returns the length of a string value", "string"),
    // bitmaps
    c("BITCOUNT", "key [start end [BYTE|BIT]]", "Counts the set bits of a string", "bitmap"),
    c("BITOP", "operation destkey key [key ...]", "AND, OR, XOR or NOT of strings into a key", "bitmap"),
    c("BITPOS", "key bit [start [end [BYTE|BIT]]]", "Finds the first bit set or clear", "bitmap"),
    c("GETBIT", "key offset", "Returns one bit of a string", "bitmap"),
    c("SETBIT", "key offset value", "Sets or clears one bit of a string", "bitmap"),
    // keys
    c(
        "COPY",
        "source destination [DB destination-db] [REPLACE]",
        "Copies a key's value to another key",
        "generic",
    ),
    c("DEL", "key [key ...]", "Deletes keys", "generic"),
    c("EXISTS", "key [key ...]", "Counts how many of the keys exist", "generic"),
    c("EXPIRE", "key seconds [NX|XX|GT|LT]", "Sets a key's time to live in seconds", "generic"),
    c("EXPIREAT", "key unix-time-seconds [NX|XX|GT|LT]", "Sets a key's expiry as a Unix time", "generic"),
    c("EXPIRETIME", "key", "Returns a key's expiry as a Unix time in seconds", "generic"),
    c("KEYS", "pattern", "Lists the keys matching a pattern", "generic"),
    c("PERSIST", "key", "Removes a key's expiry", "generic"),
    c("PEXPIRE", "key milliseconds [NX|XX|GT|LT]", "Sets a key's time to live in milliseconds", "generic"),
    c(
        "PEXPIREAT",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
        "Sets a key's expiry as a Unix time in milliseconds",
        "generic",
    ),
    c("PEXPIRETIME", "key", "Returns a key's expiry as a Unix time in milliseconds", "generic"),
    c("PTTL", "key", "Returns a key's time to live in milliseconds", "generic"),
    c("RANDOMKEY", "", "Returns a random key", "generic"),
    c("RENAME", "key newkey", "Renames a key", "generic"),
    c("RENAMENX", "key newkey", "Renames a key if the new name is free", "generic"),
    c("SCAN", "cursor [MATCH pattern] [COUNT count] [TYPE type]", "Iterates over the keys", "generic"),
    c("TOUCH", "key [key ...]", "Marks keys as used; returns how many exist", "generic"),
    c("TTL", "key", "Returns a key's time to live in seconds", "generic"),
    c("TYPE", "key", "Returns the type of a key's value", "generic"),
    c("UNLINK", "key [key ...]", "Deletes keys (memory freed in the background on Redis)", "generic"),
    // hashes
    c("HDEL", "key field [field ...]", "Deletes fields of a hash", "hash"),
    c("HEXISTS", "key field", "Tells whether a hash has a field", "hash"),
    c("HGET", "key field", "Returns one field of a hash", "hash"),
    c("HGETALL", "key", "Returns every field and value of a hash", "hash"),
    c("HINCRBY", "key field increment", "Adds a number to an integer field", "hash"),
    c("HINCRBYFLOAT", "key field increment", "Adds a floating-point number to a field", "hash"),
    c("HKEYS", "key", "Returns the fields of a hash", "hash"),
    c("HLEN", "key", "Returns the number of fields of a hash", "hash"),
    c("HMGET", "key field [field ...]", "Returns several fields of a hash", "hash"),
    c("HMSET", "key field value [field value ...]", "Sets several fields of a hash (replies OK)", "hash"),
    c("HRANDFIELD", "key [count [WITHVALUES]]", "Returns random fields of a hash", "hash"),
    c("HSCAN", "key cursor [MATCH pattern] [COUNT count]", "Iterates over the fields of a hash", "hash"),
    c("HSET", "key field value [field value ...]", "Sets fields of a hash; returns how many are new", "hash"),
    c("HSETNX", "key field value", "Sets a field only if it does not exist", "hash"),
    c("HSTRLEN", "key field", "Returns the length of a field's value", "hash"),
    c("HVALS", "key", "Returns the values of a hash", "hash"),
    // lists, sets, sorted sets: for Redis servers
    c("LINDEX", "key index", "Returns the element at an index of a list", "list"),
    c("LLEN", "key", "Returns the length of a list", "list"),
    c("LPOP", "key [count]", "Removes and returns the first elements of a list", "list"),
    c("LPUSH", "key element [element ...]", "Prepends elements to a list", "list"),
    c("LRANGE", "key start stop", "Returns a range of a list", "list"),
    c("LREM", "key count element", "Removes occurrences of an element from a list", "list"),
    c("LSET", "key index element", "Sets the element at an index of a list", "list"),
    c("LTRIM", "key start stop", "Keeps only a range of a list", "list"),
    c("RPOP", "key [count]", "Removes and returns the last elements of a list", "list"),
    c("RPUSH", "key element [element ...]", "Appends elements to a list", "list"),
    c("SADD", "key member [member ...]", "Adds members to a set", "set"),
    c("SCARD", "key", "Returns the number of members of a set", "set"),
    c("SISMEMBER", "key member", "Tells whether a value is a member of a set", "set"),
    c("SMEMBERS", "key", "Returns the members of a set", "set"),
    c("SPOP", "key [count]", "Removes and returns random members of a set", "set"),
    c("SRANDMEMBER", "key [count]", "Returns random members of a set", "set"),
    c("SREM", "key member [member ...]", "Removes members from a set", "set"),
    c(
        "ZADD",
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
        "Adds members with scores to a sorted set",
        "sorted-set",
    ),
    c("ZCARD", "key", "Returns the number of members of a sorted set", "sorted-set"),
    c("ZINCRBY", "key increment member", "Adds to a member's score", "sorted-set"),
    c(
        "ZRANGE",
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
        "Returns a range of a sorted set",
        "sorted-set",
    ),
    c("ZRANK", "key member", "Returns a member's rank in a sorted set", "sorted-set"),
    c("ZREM", "key member [member ...]", "Removes members from a sorted set", "sorted-set"),
    c("ZSCORE", "key member", "Returns a member's score", "sorted-set"),
    // transactions
    c("DISCARD", "", "Abandons the transaction", "transactions"),
    c("EXEC", "", "Runs the queued commands of the transaction", "transactions"),
    c("MULTI", "", "Starts a transaction", "transactions"),
    c("UNWATCH", "", "Forgets all watched keys", "transactions"),
    c("WATCH", "key [key ...]", "Makes the next EXEC fail if one of the keys changes", "transactions"),
    // connection
    c("AUTH", "[username] password", "Authenticates the connection", "connection"),
    c("CLIENT", "subcommand [arguments]", "Manages client connections", "connection"),
    c("CLIENT GETNAME", "", "Returns this connection's name", "connection"),
    c("CLIENT HELP", "", "Lists the CLIENT subcommands", "connection"),
    c("CLIENT ID", "", "Returns this connection's id", "connection"),
    c("CLIENT INFO", "", "Describes this connection", "connection"),
    c(
        "CLIENT KILL",
        "ip:port | [ID client-id] [ADDR ip:port] [LADDR ip:port] [SKIPME yes/no]",
        "Closes connections",
        "connection",
    ),
    c(
        "CLIENT LIST",
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
        "Describes the open connections",
        "connection",
    ),
    c("CLIENT NO-EVICT", "ON|OFF", "Sets the client eviction mode of this connection", "connection"),
    c("CLIENT NO-TOUCH", "ON|OFF", "Keeps this connection's reads from touching keys", "connection"),
    c("CLIENT REPLY", "ON|OFF|SKIP", "Turns the server's replies off or on", "connection"),
    c(
        "CLIENT SETINFO",
        "LIB-NAME libname|LIB-VER libver",
        "Records the client library's name or version",
        "connection",
    ),
    c("CLIENT SETNAME", "connection-name", "Names this connection", "connection"),
    c("ECHO", "message", "Returns the message", "connection"),
    c(
        "HELLO",
        "[protover [AUTH username password] [SETNAME clientname]]",
        "Handshake: switches protocol, authenticates",
        "connection",
    ),
    c("PING", "[message]", "Checks the connection", "connection"),
    c("QUIT", "", "Closes the connection", "connection"),
    c("SELECT", "index", "Selects a database (Shoal has only database 0)", "connection"),
    // server
    c("COMMAND", "", "Describes every command", "server"),
    c("COMMAND COUNT", "", "Returns the number of commands", "server"),
    c("COMMAND DOCS", "[command-name [command-name ...]]", "Documents commands", "server"),
    c("COMMAND GETKEYS", "command [arg [arg ...]]", "Extracts the keys of a full command", "server"),
    c(
        "COMMAND GETKEYSANDFLAGS",
        "command [arg [arg ...]]",
        "Extracts the keys of a full command, with access flags",
        "server",
    ),
    c("COMMAND HELP", "", "Lists the COMMAND subcommands", "server"),
    c("COMMAND INFO", "[command-name [command-name ...]]", "Describes some commands", "server"),
    c(
        "COMMAND LIST",
        "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
        "Lists command names",
        "server",
    ),
    c("CONFIG GET", "parameter [parameter ...]", "Returns configuration values", "server"),
    c("CONFIG HELP", "", "Lists the CONFIG subcommands", "server"),
    c("CONFIG RESETSTAT", "", "Resets the statistics INFO reports", "server"),
    c("CONFIG REWRITE", "", "Writes the configuration back to its file", "server"),
    c(
        "CONFIG SET",
        "parameter value [parameter value ...]",
        "Changes configuration values at run time",
        "server",
    ),
    c("DBSIZE", "", "Returns the number of keys", "server"),
    c("FLUSHALL", "[ASYNC|SYNC]", "Deletes every key", "server"),
    c("FLUSHDB", "[ASYNC|SYNC]", "Deletes every key of the database", "server"),
    c("INFO", "[section [section ...]]", "Returns information and statistics about the server", "server"),
    c("MEMORY", "subcommand [arguments]", "Reports on memory use", "server"),
    c("MEMORY DOCTOR", "", "Reports memory problems and advice", "server"),
    c("MEMORY HELP", "", "Lists the MEMORY subcommands", "server"),
    c("MEMORY MALLOC-STATS", "", "Returns the allocator's statistics", "server"),
    c("MEMORY PURGE", "", "Asks the allocator to give memory back", "server"),
    c("MEMORY STATS", "", "Returns details of the server's memory use", "server"),
    c("MEMORY USAGE", "key [SAMPLES count]", "Returns the bytes a key and its value take", "server"),
    c("OBJECT", "subcommand [arguments]", "Inspects how a key's value is kept", "generic"),
    c("OBJECT ENCODING", "key", "Returns the internal encoding of a key's value", "generic"),
    c("OBJECT FREQ", "key", "Returns a key's access frequency (LFU policies)", "generic"),
    c("OBJECT HELP", "", "Lists the OBJECT subcommands", "generic"),
    c("OBJECT IDLETIME", "key", "Returns the seconds since a key was last used", "generic"),
    c("OBJECT REFCOUNT", "key", "Returns the reference count of a key's value", "generic"),
    c("SHUTDOWN", "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]", "Stops the server", "server"),
    c("TIME", "", "Returns the server's time", "server"),
    // cluster
    c("CLUSTER COUNTKEYSINSLOT", "slot", "Counts the keys of a hash slot on this node", "cluster"),
    c("CLUSTER GETKEYSINSLOT", "slot count", "Lists keys of a hash slot on this node", "cluster"),
    c("CLUSTER HELP", "", "Lists the CLUSTER subcommands", "cluster"),
    c("CLUSTER INFO", "", "Returns the cluster's state", "cluster"),
    c("CLUSTER KEYSLOT", "key", "Returns a key's hash slot", "cluster"),
    c("CLUSTER MYID", "", "Returns this node's id", "cluster"),
    c("CLUSTER MYSHARDID", "", "Returns this node's shard id", "cluster"),
    c("CLUSTER NODES", "", "Describes the nodes, in Redis Cluster's format", "cluster"),
    c("CLUSTER SHARDS", "", "Describes the shards and their slot ranges", "cluster"),
    c("CLUSTER SLOTS", "", "Maps slot ranges to nodes", "cluster"),
    c("READONLY", "", "Allows reads from replicas on this connection", "cluster"),
    c("READWRITE", "", "Ends READONLY", "cluster"),
    // Shoal's own
    c("SHOAL HELP", "", "Lists the SHOAL subcommands", "shoal"),
    c(
        "SHOAL MEMBERS",
        "",
        "Lists the live members: id, state, liveness, addresses, bump, start time",
        "shoal",
    ),
    c("SHOAL RING", "", "Describes the serving ring: view id, vnodes, replicas, slots per node", "shoal"),
    c("SHOAL LEAVE", "", "Leaves the cluster gracefully: hands the node's slots over, then exits", "shoal"),
    c(
        "SHOAL REBALANCE",
        "",
        "Shows this node's state, moving slots, slots left to pull, pull progress and replication counters",
        "shoal",
    ),
];

/// The groups, in the order `help` lists them.
pub const GROUPS: &[&str] = &[
    "string",
    "bitmap",
    "generic",
    "hash",
    "list",
    "set",
    "sorted-set",
    "transactions",
    "connection",
    "server",
    "cluster",
    "shoal",
];

/// The entry whose name is the longest prefix of `args` (so `cluster info x`
/// finds `CLUSTER INFO`), with the number of words its name has.
pub fn lookup<A: AsRef<[u8]>>(args: &[A]) -> Option<(&'static CommandHelp, usize)> {
    COMMANDS
        .iter()
        .filter_map(|entry| {
            let words: Vec<&str> = entry.name.split(' ').collect();
            let matches = words.len() <= args.len()
                && words.iter().zip(args).all(|(w, a)| a.as_ref().eq_ignore_ascii_case(w.as_bytes()));
            matches.then_some((entry, words.len()))
        })
        .max_by_key(|(_, words)| *words)
}

/// The grey hint shown after what is typed on the prompt: the arguments
/// not yet typed. Arguments already typed drop as many leading words of
/// the syntax, up to the first optional one. `None` when the line names no
/// known command.
pub fn hint(line: &str) -> Option<String> {
    let args = crate::protocol::request::split_args(line.as_bytes()).ok()?;
    if args.is_empty() {
        return None;
    }
    let (entry, name_words) = lookup(&args)?;
    let mut rest = entry.params;
    let mut typed = args.len() - name_words;
    while typed > 0 && !rest.is_empty() && !rest.starts_with('[') {
        rest = match rest.split_once(' ') {
            Some((_, tail)) => tail,
            None => "",
        };
        typed -= 1;
    }
    if rest.is_empty() {
        return None;
    }
    let ends_with_space = line.ends_with(|c: char| c.is_ascii_whitespace());
    Some(if ends_with_space { rest.to_string() } else { format!(" {rest}") })
}

const BOLD: &str = "\x1b[1m";
const GREY: &str = "\x1b[90m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// What `help ...` prints: general help without arguments, a group's
/// commands for `@group`, else the commands whose name starts with the
/// words given. Colors when `color` (a terminal).
pub fn render(args: &[String], color: bool) -> String {
    let paint =
        |code: &str, text: &str| if color { format!("{code}{text}{RESET}") } else { text.to_string() };
    if args.is_empty() {
        return general();
    }
    let entry_text = |e: &CommandHelp, show_group: bool| {
        let mut out = format!("\n  {} {}\n", paint(BOLD, e.name), paint(GREY, e.params));
        out.push_str(&format!("  {} {}\n", paint(YELLOW, "summary:"), e.summary));
        if show_group {
            out.push_str(&format!("  {} {}\n", paint(YELLOW, "group:"), e.group));
        }
        out
    };
    if let Some(group) = args[0].strip_prefix('@') {
        let text: String = COMMANDS
            .iter()
            .filter(|e| e.group.eq_ignore_ascii_case(group))
            .map(|e| entry_text(e, false))
            .collect();
        return if text.is_empty() { String::new() } else { text + "\n" };
    }
    let wanted = args.join(" ").to_ascii_uppercase();
    let exact: Vec<_> = COMMANDS.iter().filter(|e| e.name == wanted).collect();
    let found = if exact.is_empty() {
        COMMANDS.iter().filter(|e| e.name.starts_with(&format!("{wanted} "))).collect()
    } else {
        exact
    };
    if found.is_empty() {
        return String::new();
    }
    found.into_iter().map(|e| entry_text(e, true)).collect::<String>() + "\n"
}

fn general() -> String {
    format!(
        "shoal-cli {}\n\
         To get help about commands type:\n      \
         \"help @<group>\" to get a list of commands in <group>\n      \
         \"help <command>\" for help on <command>\n      \
         \"quit\" to exit\n\n\
         Groups: {}\n\n\
         To set shoal-cli preferences:\n      \
         \":set hints\" enable online hints\n      \
         \":set nohints\" disable online hints\n",
        env!("CARGO_PKG_VERSION"),
        GROUPS.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_drop_typed_arguments_up_to_the_optional_ones() {
        assert_eq!(
            hint("set").as_deref(),
            Some(
                " key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
            )
        );
        assert_eq!(hint("set ").as_deref().map(|h| &h[..9]), Some("key value"));
        assert_eq!(hint("SET foo").as_deref().map(|h| &h[..7]), Some(" value "));
        assert_eq!(hint("set foo bar").as_deref().map(|h| &h[..8]), Some(" [NX|XX]"));
        assert_eq!(hint("get k"), None);
        assert_eq!(hint("hset h f v").as_deref(), Some(" [field value ...]"));
        assert_eq!(hint("cluster info"), None);
        assert_eq!(hint("cluster countkeysinslot").as_deref(), Some(" slot"));
        assert_eq!(hint("nosuchcommand "), None);
        assert_eq!(hint(""), None);
        assert_eq!(hint("\"unbalanced"), None);
    }

    #[test]
    fn help_for_commands_groups_and_prefixes() {
        let get = render(&["get".into()], false);
        assert_eq!(get, "\n  GET key\n  summary: Returns the string value of a key\n  group: string\n\n");
        let cluster = render(&["cluster".into()], false);
        assert!(cluster.contains("CLUSTER INFO") && cluster.contains("CLUSTER SLOTS"));
        assert!(render(&["@hash".into()], false).contains("HSET key field value"));
        assert_eq!(render(&["nosuch".into()], false), "");
        assert!(render(&[], false).contains("help @<group>"));
        assert!(render(&["get".into()], true).contains("\x1b[1mGET\x1b[0m"));
    }

    #[test]
    fn every_group_is_listed() {
        for entry in COMMANDS {
            assert!(GROUPS.contains(&entry.group), "{} has unknown group {}", entry.name, entry.group);
        }
    }

    /// Every command and subcommand Shoal serves has help, so its hints work.
    #[test]
    fn covers_shoals_command_table() {
        let mut missing = Vec::new();
        for spec in crate::cmd::TABLE.commands() {
            let name = spec.name.to_ascii_uppercase();
            if spec.subcommands.is_empty() {
                if !COMMANDS.iter().any(|e| e.name == name) {
                    missing.push(name);
                }
            } else {
                for sub in spec.subcommands {
                    let full = sub.name.replace('|', " ").to_ascii_uppercase();
                    if !COMMANDS.iter().any(|e| e.name == full) {
                        missing.push(full);
                    }
                }
            }
        }
        assert!(missing.is_empty(), "no help for {missing:?}");
    }
}
