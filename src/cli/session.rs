//! A client session: the connection plus what must survive reconnecting
//! (credentials, protocol, selected database), redirections in cluster
//! mode (`-c`) and the prompt.

use std::io::Write;

use super::conn::{CliError, Connection, Endpoint};
use super::reply::Reply;

/// Most redirections followed for one command before giving up (a cluster
/// whose nodes disagree could otherwise bounce a command forever).
const MAX_REDIRECTS: usize = 16;

/// How a session connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where to connect (changed by redirections and `connect`).
    pub endpoint: Endpoint,
    /// ACL user for AUTH (with a password).
    pub user: Option<String>,
    /// Password for AUTH.
    pub password: Option<String>,
    /// Protocol to switch to with HELLO after connecting (`-2`, `-3`).
    pub resp: Option<u8>,
    /// Database to SELECT after connecting (`-n`).
    pub db: i64,
    /// Follow `-MOVED` and `-ASK` (`-c`).
    pub cluster_mode: bool,
}

/// A connection that reconnects when needed and remembers its state.
pub struct Session {
    settings: Settings,
    conn: Option<Connection>,
    in_multi: bool,
    /// Print `-> Redirected ...` when following a redirection (interactive).
    pub show_redirects: bool,
}

impl Session {
    /// A session, not yet connected.
    pub fn new(settings: Settings) -> Session {
        Session { settings, conn: None, in_multi: false, show_redirects: false }
    }

    /// The settings in force (the endpoint follows redirections).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Points the session at another server (interactive `connect`); the
    /// next command connects there.
    pub fn set_endpoint(&mut self, host: String, port: u16) {
        self.settings.endpoint.host = host;
        self.settings.endpoint.port = port;
        self.conn = None;
    }

    /// Opens a new connection and sets it up: AUTH, SELECT, HELLO. A
    /// refused setup step is reported on standard error (as redis-cli
    /// does) and the connection is kept.
    pub fn connect(&mut self) -> Result<(), CliError> {
        self.conn = None;
        self.in_multi = false;
        let mut conn = Connection::open(&self.settings.endpoint)?;
        if let Some(password) = &self.settings.password {
            let mut auth = vec!["AUTH".to_string()];
            auth.extend(self.settings.user.clone());
            auth.push(password.clone());
            if let Reply::Error(text) = conn.call(&auth)? {
                eprintln!("AUTH failed: {}", String::from_utf8_lossy(&text));
            }
        }
        if self.settings.db != 0
            && let Reply::Error(text) = conn.call(&["SELECT".to_string(), self.settings.db.to_string()])?
        {
            eprintln!("SELECT {} failed: {}", self.settings.db, String::from_utf8_lossy(&text));
            self.settings.db = 0;
        }
        if let Some(version) = self.settings.resp
            && let Reply::Error(text) = conn.call(&["HELLO".to_string(), version.to_string()])?
        {
            eprintln!("HELLO {version} failed: {}", String::from_utf8_lossy(&text));
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// The connection, opened (or reopened, when the server closed it while
    /// idle, e.g. after a restart) if needed.
    pub fn connection(&mut self) -> Result<&mut Connection, CliError> {
        let stale = self.conn.as_ref().is_none_or(Connection::closed_by_peer);
        if stale {
            self.connect()?;
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Drops the connection (the next command reconnects).
    pub fn disconnect(&mut self) {
        self.conn = None;
        self.in_multi = false;
    }

    /// Sends a command and reads its reply, following redirections in
    /// cluster mode (notices go to `notices`). `Ok(None)` when the server
    /// closed the connection in answer to SHUTDOWN, as it should.
    pub fn call(&mut self, args: &[Vec<u8>], notices: &mut dyn Write) -> Result<Option<Reply>, CliError> {
        let mut asking = false;
        for _ in 0..=MAX_REDIRECTS {
            let conn = self.connection()?;
            let sent =
                if asking { conn.call(&["ASKING"]).and_then(|_| conn.call(args)) } else { conn.call(args) };
            let reply = match sent {
                Ok(reply) => reply,
                Err(CliError::Closed) if is(args, 0, "shutdown") => {
                    self.disconnect();
                    return Ok(None);
                }
                Err(e) => {
                    self.disconnect();
                    return Err(e);
                }
            };
            if self.settings.cluster_mode
                && let Some(redirect) = Redirect::parse(&reply)
            {
                if self.show_redirects {
                    let _ = writeln!(
                        notices,
                        "-> Redirected to slot [{}] located at {}:{}",
                        redirect.slot, redirect.host, redirect.port
                    );
                }
                self.set_endpoint(redirect.host, redirect.port);
                asking = redirect.ask;
                continue;
            }
            self.track(args, &reply);
            return Ok(Some(reply));
        }
        Err(CliError::Io(std::io::Error::other("too many cluster redirections")))
    }

    /// Remembers what a successful command changed about the session.
    fn track(&mut self, args: &[Vec<u8>], reply: &Reply) {
        let ok = !reply.is_error();
        if is(args, 0, "multi") && ok {
            self.in_multi = true;
        } else if is(args, 0, "exec") || is(args, 0, "discard") {
            self.in_multi = false;
        } else if is(args, 0, "select") && args.len() == 2 && ok {
            if let Some(db) = std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse().ok()) {
                self.settings.db = db;
            }
        } else if is(args, 0, "auth") && ok && (args.len() == 2 || args.len() == 3) {
            let text = |a: &Vec<u8>| String::from_utf8_lossy(a).into_owned();
            self.settings.password = Some(text(&args[args.len() - 1]));
            self.settings.user = (args.len() == 3).then(|| text(&args[1]));
        } else if is(args, 0, "hello")
            && ok
            && args.len() >= 2
            && let Some(version) = std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse().ok())
        {
            self.settings.resp = Some(version);
        }
    }

    /// The interactive prompt: `host:port[db](TX)> `, or `not connected> `.
    pub fn prompt(&self) -> String {
        if self.conn.is_none() {
            return "not connected> ".to_string();
        }
        let mut prompt = self.settings.endpoint.prompt_addr();
        if self.settings.db != 0 {
            prompt.push_str(&format!("[{}]", self.settings.db));
        }
        if self.in_multi {
            prompt.push_str("(TX)");
        }
        prompt.push_str("> ");
        prompt
    }
}

/// True when argument `i` is `word`, ignoring case.
pub fn is(args: &[Vec<u8>], i: usize, word: &str) -> bool {
    args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// A `-MOVED slot host:port` or `-ASK slot host:port` error.
#[derive(Debug, PartialEq, Eq)]
pub struct Redirect {
    /// The key's slot.
    pub slot: u16,
    /// Where to go.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// ASK (one-time, send ASKING first) rather than MOVED.
    pub ask: bool,
}

impl Redirect {
    /// Reads a redirection from an error reply.
    pub fn parse(reply: &Reply) -> Option<Redirect> {
        let Reply::Error(text) = reply else { return None };
        let text = std::str::from_utf8(text).ok()?;
        let mut words = text.split(' ');
        let ask = match words.next()? {
            "MOVED" => false,
            "ASK" => true,
            _ => return None,
        };
        let slot = words.next()?.parse().ok()?;
        let (host, port) = words.next()?.rsplit_once(':')?;
        Some(Redirect { slot, host: host.to_string(), port: port.parse().ok()?, ask })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redirections() {
        assert_eq!(
            Redirect::parse(&Reply::error("MOVED 3999 127.0.0.1:6381")),
            Some(Redirect { slot: 3999, host: "127.0.0.1".into(), port: 6381, ask: false })
        );
        assert_eq!(
            Redirect::parse(&Reply::error("ASK 1 ::1:7000")).map(|r| (r.host, r.ask)),
            Some(("::1".into(), true))
        );
        assert_eq!(Redirect::parse(&Reply::error("ERR MOVED")), None);
        assert_eq!(Redirect::parse(&Reply::status("MOVED 1 a:1")), None);
    }

    #[test]
    fn prompt_shows_database_and_transaction() {
        let settings = Settings {
            endpoint: Endpoint { host: "127.0.0.1".into(), port: 6380, timeout: None },
            user: None,
            password: None,
            resp: None,
            db: 0,
            cluster_mode: false,
        };
        let session = Session::new(settings);
        assert_eq!(session.prompt(), "not connected> ");
    }
}
