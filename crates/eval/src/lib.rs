//! Detection quality against labels: ranking metrics, episode recall,
//! typing accuracy, time to detect and false alerts.

pub mod metrics;
