//! What a process tells its operators: `LOG_FORMAT` and `METRICS_BIND_ADDR`
//! (see docs/operations.md).

use std::net::SocketAddr;

use super::Reader;

/// Where Prometheus scrapes by default: loopback, so a scrape needs a sidecar
/// or an explicit address; the metrics carry no secret, but an operator
/// decides who may read them.
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1:9464";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `LOG_FORMAT=human` (default): one readable line per event.
    #[default]
    Human,
    /// `LOG_FORMAT=json`: one JSON object per line, for log pipelines.
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// `METRICS_BIND_ADDR`: where `/metrics` is served; `None` when set empty (metrics off).
    pub metrics_bind: Option<SocketAddr>,
}

pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>) -> TelemetrySettings {
    let log_format = match env.string("LOG_FORMAT").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("human") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => {
            env.problem(format!("LOG_FORMAT must be human or json (got {other:?})"));
            LogFormat::Human
        }
    };
    // Set but empty turns metrics off; unset takes the default address.
    let metrics_bind = match (env.lookup)("METRICS_BIND_ADDR") {
        Some(raw) if raw.trim().is_empty() => None,
        _ => Some(env.parse_or(
            "METRICS_BIND_ADDR",
            DEFAULT_METRICS_BIND,
            "an address such as 127.0.0.1:9464, or empty to turn metrics off",
        )),
    };
    TelemetrySettings {
        log_format,
        metrics_bind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parse;

    #[test]
    fn metrics_listen_on_loopback_unless_set_empty() {
        let telemetry = |vars: &[(&str, &str)]| parse(vars).map(|s| s.telemetry);
        let defaults = telemetry(&[]).expect("defaults");
        assert_eq!(defaults.log_format, LogFormat::Human);
        assert_eq!(
            defaults.metrics_bind.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_METRICS_BIND)
        );
        assert_eq!(telemetry(&[("METRICS_BIND_ADDR", "")]).expect("off").metrics_bind, None);
        assert_eq!(
            telemetry(&[("METRICS_BIND_ADDR", "  ")]).expect("off").metrics_bind,
            None
        );
        assert_eq!(
            telemetry(&[("METRICS_BIND_ADDR", "0.0.0.0:9100")])
                .expect("set")
                .metrics_bind
                .map(|a| a.port()),
            Some(9100)
        );
        assert_eq!(
            telemetry(&[("LOG_FORMAT", "JSON")]).expect("json").log_format,
            LogFormat::Json
        );
        let err = parse(&[("METRICS_BIND_ADDR", "nowhere"), ("LOG_FORMAT", "xml")]).expect_err("both wrong");
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(err.to_string().contains("METRICS_BIND_ADDR") && err.to_string().contains("LOG_FORMAT"));
    }
}
