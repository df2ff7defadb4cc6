//! Declaring metric families and filling them at scrape time.
//!
//! Every family Shoal exports is a [`Spec`] constant (name, help, type,
//! label names); collectors build their [`Desc`]s from their specs once and
//! fill a [`Family`] per spec on every scrape.

use std::collections::HashMap;

use prometheus::core::Desc;
use prometheus::proto::{self, MetricFamily, MetricType};

use crate::util::histogram::LatencySnapshot;

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset when the node restarts or by `CONFIG RESETSTAT`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Latency buckets, sum and count.
    Histogram,
}

/// One exported metric family.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Full name, `shoal_...`, with its unit.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Names of its labels, in the order values are given.
    pub labels: &'static [&'static str],
}

impl Spec {
    /// Its descriptor, for registering the collector that fills it.
    pub fn desc(&self) -> Desc {
        let labels = self.labels.iter().map(|l| l.to_string()).collect();
        Desc::new(self.name.to_string(), self.help.to_string(), labels, HashMap::new())
            .unwrap_or_else(|e| panic!("metric spec {} is invalid: {e}", self.name))
    }
}

/// The descriptors of `specs`.
pub fn descs(specs: &[&Spec]) -> Vec<Desc> {
    specs.iter().map(|s| s.desc()).collect()
}

/// One family being filled during a scrape.
pub struct Family {
    spec: &'static Spec,
    metrics: Vec<proto::Metric>,
}

impl Family {
    /// An empty family for `spec`.
    pub fn new(spec: &'static Spec) -> Family {
        Family { spec, metrics: Vec::new() }
    }

    /// Adds a counter or gauge sample; `labels` are values in the spec's
    /// label order.
    pub fn add(&mut self, labels: &[&str], value: f64) -> &mut Family {
        let mut metric = self.labelled(labels);
        match self.spec.kind {
            Kind::Counter => {
                let mut counter = proto::Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
            Kind::Gauge => {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
            Kind::Histogram => panic!("{} is a histogram: use add_histogram", self.spec.name),
        }
        self.metrics.push(metric);
        self
    }

    /// Adds a histogram sample from a latency snapshot (seconds).
    pub fn add_histogram(&mut self, labels: &[&str], snapshot: &LatencySnapshot) -> &mut Family {
        assert_eq!(self.spec.kind, Kind::Histogram, "{} is not a histogram", self.spec.name);
        let mut metric = self.labelled(labels);
        let mut histogram = proto::Histogram::default();
        let buckets = snapshot
            .cumulative()
            .map(|(bound, count)| {
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(bound);
                bucket.set_cumulative_count(count);
                bucket
            })
            .collect();
        histogram.set_bucket(buckets);
        histogram.set_sample_count(snapshot.count());
        histogram.set_sample_sum(snapshot.sum_seconds());
        metric.set_histogram(histogram);
        self.metrics.push(metric);
        self
    }

    fn labelled(&self, values: &[&str]) -> proto::Metric {
        assert_eq!(values.len(), self.spec.labels.len(), "label values of {}", self.spec.name);
        let pairs = self
            .spec
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect();
        let mut metric = proto::Metric::default();
        metric.set_label(pairs);
        metric
    }

    /// The finished family.
    pub fn finish(self) -> MetricFamily {
        let mut family = MetricFamily::default();
        family.set_name(self.spec.name.to_string());
        family.set_help(self.spec.help.to_string());
        family.set_field_type(match self.spec.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
            Kind::Histogram => MetricType::HISTOGRAM,
        });
        family.set_metric(self.metrics);
        family
    }
}

/// A family holding one unlabelled sample.
pub fn single(spec: &'static Spec, value: f64) -> MetricFamily {
    let mut family = Family::new(spec);
    family.add(&[], value);
    family.finish()
}
