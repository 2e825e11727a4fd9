//! What a scenario reports: one JSON line for machines and a table for people, with the
//! targets it was held to.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

/// Latencies in microseconds, from 1 µs to a minute, three significant digits.
#[derive(Debug, Clone)]
pub(crate) struct Latencies(Histogram<u64>);

impl Latencies {
    pub(crate) fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"))
    }

    pub(crate) fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub(crate) fn add(&mut self, other: &Latencies) {
        self.0
            .add(&other.0)
            .expect("histograms of the same bounds add up");
    }

    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `quantile` (0.99 for p99), in milliseconds.
    pub(crate) fn millis(&self, quantile: f64) -> f64 {
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// One scenario's results.
#[derive(Debug)]
pub(crate) struct Report {
    fields: Map<String, Value>,
    rows: Vec<(String, String)>,
    targets: Vec<(String, bool)>,
}

impl Report {
    pub(crate) fn new(scenario: &str, backend: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("scenario".into(), json!(scenario));
        fields.insert("backend".into(), json!(backend));
        Self {
            fields,
            rows: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// A parameter or a plain value, shown as it is.
    pub(crate) fn value(&mut self, key: &str, label: &str, value: impl Into<Value>) {
        let value = value.into();
        let shown = match &value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        self.fields.insert(key.into(), value);
        self.rows.push((label.into(), shown));
    }

    /// A rate of `count` things in `elapsed`; returns it per second.
    pub(crate) fn rate(&mut self, key: &str, label: &str, count: u64, elapsed: Duration) -> f64 {
        let per_second = count as f64 / elapsed.as_secs_f64().max(1e-9);
        self.fields.insert(key.into(), json!(per_second.round()));
        self.rows.push((
            label.into(),
            format!(
                "{} /s  ({count} in {:.2} s)",
                thousands(per_second),
                elapsed.as_secs_f64()
            ),
        ));
        per_second
    }

    /// p50, p99 and p999 of `latencies`, as `<key>_p50_ms` and so on.
    pub(crate) fn latencies(&mut self, key: &str, label: &str, latencies: &Latencies) {
        let quantiles = [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)];
        for (name, quantile) in quantiles {
            self.fields.insert(
                format!("{key}_{name}_ms"),
                json!(latencies.millis(quantile)),
            );
        }
        self.rows.push((
            label.into(),
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  p999 {:.2} ms  ({} samples)",
                latencies.millis(0.5),
                latencies.millis(0.99),
                latencies.millis(0.999),
                latencies.count()
            ),
        ));
    }

    /// `numerator / denominator`, as `key`.
    pub(crate) fn ratio(
        &mut self,
        key: &str,
        label: &str,
        numerator: f64,
        denominator: f64,
    ) -> f64 {
        let ratio = numerator / denominator.max(1e-9);
        self.fields
            .insert(key.into(), json!((ratio * 100.0).round() / 100.0));
        self.rows.push((label.into(), format!("{ratio:.2} ×")));
        ratio
    }

    /// A target the scenario is held to, and whether this run met it.
    pub(crate) fn target(&mut self, description: &str, met: bool) {
        self.targets.push((description.into(), met));
    }

    /// A part of the scenario that did not run, and why.
    pub(crate) fn skipped(&mut self, what: &str, why: &str) {
        self.fields.insert(format!("{what}_skipped"), json!(why));
        self.rows.push((what.into(), format!("skipped: {why}")));
    }

    /// Prints the table (unless `json_only`) and the JSON line.
    #[allow(clippy::print_stdout)]
    pub(crate) fn print(mut self, json_only: bool) {
        let targets: Map<String, Value> = self
            .targets
            .iter()
            .map(|(description, met)| (description.clone(), json!(met)))
            .collect();
        self.fields.insert("targets".into(), Value::Object(targets));
        if !json_only {
            println!(
                "\n== {} ({})",
                self.fields["scenario"].as_str().unwrap_or_default(),
                self.fields["backend"].as_str().unwrap_or_default()
            );
            let width = self
                .rows
                .iter()
                .map(|(label, _)| label.chars().count())
                .max();
            for (label, value) in &self.rows {
                let pad = width.unwrap_or(0) - label.chars().count();
                println!("  {label}{}  {value}", " ".repeat(pad));
            }
            for (description, met) in &self.targets {
                println!(
                    "  target {}  {description}",
                    if *met { "met   " } else { "MISSED" }
                );
            }
        }
        println!("{}", Value::Object(self.fields));
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The resident set size of this process, in bytes (Linux; `None` elsewhere).
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }

    #[test]
    fn latencies_give_quantiles_in_milliseconds() {
        let mut latencies = Latencies::new();
        for micros in 1..=1000 {
            latencies.record(Duration::from_micros(micros));
        }
        assert_eq!(latencies.count(), 1000);
        assert!((latencies.millis(0.5) - 0.5).abs() < 0.01);
        assert!((latencies.millis(0.99) - 0.99).abs() < 0.01);
    }
}
