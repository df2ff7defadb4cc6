//! Client traffic: commands by name and result, latency by command, bytes,
//! connections. Read at scrape time from the counters `INFO` reports.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::family::{Family, Kind, Spec, descs, single};
use crate::cmd::{CommandTotals, ServerState, TABLE};
use crate::util::striped::Tally;

/// `shoal_commands_total{command,result}`.
pub const COMMANDS: Spec = Spec {
    name: "shoal_commands_total",
    help: "Client requests answered, by command and result (ok or error reply). Commands never used are \
           not listed.",
    kind: Kind::Counter,
    labels: &["command", "result"],
};
/// `shoal_command_duration_seconds{command}`.
pub const COMMAND_DURATION: Spec = Spec {
    name: "shoal_command_duration_seconds",
    help: "Time to answer a client request, forwarding to the owner included, by command.",
    kind: Kind::Histogram,
    labels: &["command"],
};
/// `shoal_commands_processed_total` (`INFO` `total_commands_processed`).
pub const COMMANDS_PROCESSED: Spec = Spec {
    name: "shoal_commands_processed_total",
    help: "Commands run or routed by this node, requests from peers included (INFO \
           total_commands_processed).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_net_input_bytes_total`.
pub const NET_INPUT: Spec = Spec {
    name: "shoal_net_input_bytes_total",
    help: "Bytes read from clients (INFO total_net_input_bytes).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_net_output_bytes_total`.
pub const NET_OUTPUT: Spec = Spec {
    name: "shoal_net_output_bytes_total",
    help: "Bytes written to clients (INFO total_net_output_bytes).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_client_connections`.
pub const CONNECTIONS: Spec = Spec {
    name: "shoal_client_connections",
    help: "Client connections open now (INFO connected_clients).",
    kind: Kind::Gauge,
    labels: &[],
};
/// `shoal_client_connections_received_total`.
pub const CONNECTIONS_RECEIVED: Spec = Spec {
    name: "shoal_client_connections_received_total",
    help: "Client connections accepted (INFO total_connections_received).",
    kind: Kind::Counter,
    labels: &[],
};
/// `shoal_client_connections_rejected_total`.
pub const CONNECTIONS_REJECTED: Spec = Spec {
    name: "shoal_client_connections_rejected_total",
    help: "Client connections refused because maxclients was reached (INFO rejected_connections).",
    kind: Kind::Counter,
    labels: &[],
};

/// Every family of this collector.
pub const SPECS: &[&Spec] = &[
    &COMMANDS,
    &COMMAND_DURATION,
    &COMMANDS_PROCESSED,
    &NET_INPUT,
    &NET_OUTPUT,
    &CONNECTIONS,
    &CONNECTIONS_RECEIVED,
    &CONNECTIONS_REJECTED,
];

/// Label of requests for commands Shoal does not know.
const UNKNOWN_COMMAND: &str = "unknown";

/// Reads the server's counters.
pub struct RequestCollector {
    server: Arc<ServerState>,
    descs: Vec<Desc>,
}

impl RequestCollector {
    /// A collector over `server`'s counters.
    pub fn new(server: Arc<ServerState>) -> RequestCollector {
        RequestCollector { server, descs: descs(SPECS) }
    }

    fn command_families(&self) -> [MetricFamily; 2] {
        let mut commands = Family::new(&COMMANDS);
        let mut durations = Family::new(&COMMAND_DURATION);
        let stats = &self.server.commands;
        let known =
            TABLE.commands().iter().enumerate().map(|(i, spec)| (spec.name, stats.cells(Some(i as u16))));
        for (name, cells) in known.chain(std::iter::once((UNKNOWN_COMMAND, stats.cells(None)))) {
            add_command(&mut commands, &mut durations, name, cells);
        }
        [commands.finish(), durations.finish()]
    }
}

fn add_command(commands: &mut Family, durations: &mut Family, name: &str, cells: CommandTotals) {
    let latency = cells.latency();
    let calls = latency.count();
    if calls == 0 {
        return;
    }
    let errors = cells.errors().min(calls);
    commands.add(&[name, "ok"], (calls - errors) as f64);
    commands.add(&[name, "error"], errors as f64);
    durations.add_histogram(&[name], &latency);
}

impl Collector for RequestCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let stats = &self.server.stats;
        let [commands, durations] = self.command_families();
        vec![
            commands,
            durations,
            single(&COMMANDS_PROCESSED, stats.total_commands_processed.tally() as f64),
            single(&NET_INPUT, stats.net_input_bytes.tally() as f64),
            single(&NET_OUTPUT, stats.net_output_bytes.tally() as f64),
            single(&CONNECTIONS, self.server.connected_clients() as f64),
            single(&CONNECTIONS_RECEIVED, stats.total_connections_received.tally() as f64),
            single(&CONNECTIONS_REJECTED, stats.rejected_connections.tally() as f64),
        ]
    }
}
