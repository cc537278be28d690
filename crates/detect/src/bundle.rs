//! The model bundle: every API's model plus the population fallback, saved as
//! a directory (`bundle.awm` in the checksummed envelope, `manifest.json` for
//! people).

use crate::envelope::{self, BundleError, FORMAT_VERSION};
use crate::features::N_FEATURES;
use crate::model::{ApiModel, PopulationModel};
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const BUNDLE_FILE: &str = "bundle.awm";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where the CLI keeps the fingerprint key, beside the bundle.
pub const FINGERPRINT_KEY_FILE: &str = "fingerprint.key";

/// Everything `train` learned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelBundle {
    pub format_version: u32,
    /// Traffic time (epoch ms) of the newest training record. Traffic time,
    /// not the wall clock, so the same input always gives the same bundle.
    pub created_at_ms: i64,
    pub train_config: TrainConfig,
    /// Training records over all APIs (before exclusions).
    pub records: u64,
    /// Training records left out as not normal (over a threshold, or of an
    /// entity that would have alerted).
    pub excluded_records: u64,
    pub apis: BTreeMap<String, Arc<ApiModel>>,
    /// For APIs not in `apis`.
    pub population: Option<Arc<PopulationModel>>,
}

/// The human-readable summary written beside the bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub created_at: String,
    pub seed: u64,
    pub records: u64,
    pub excluded_records: u64,
    pub apis: Vec<ManifestApi>,
    pub population_model: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestApi {
    pub name: String,
    pub records: u64,
    pub request_threshold: f64,
    pub endpoints: Vec<ManifestEndpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestEndpoint {
    pub endpoint: String,
    pub records: u64,
    pub auth: bool,
    pub median_latency_ms: f64,
    pub median_response_bytes: f64,
}

impl ModelBundle {
    pub fn api_names(&self) -> Vec<String> {
        self.apis.keys().cloned().collect()
    }

    /// The bundle in its envelope (for the store).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain structs into a Vec cannot fail for lack of IO;
        // an error here would be a bug in a Serialize impl.
        let payload = rmp_serde::to_vec_named(self).unwrap_or_default();
        envelope::seal(&payload)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let (_version, payload) = envelope::open(bytes)?;
        let mut bundle: ModelBundle =
            rmp_serde::from_slice(payload).map_err(|e| BundleError::Decode(e.to_string()))?;
        bundle.format_version = FORMAT_VERSION;
        bundle.validate()?;
        Ok(bundle)
    }

    /// What serde cannot check: the pieces fit together (a bundle that
    /// passed its checksum but was written by an incompatible build).
    fn validate(&self) -> Result<(), BundleError> {
        let bad = |msg: String| Err(BundleError::Decode(msg));
        let detectors = self
            .apis
            .values()
            .map(|m| (m.name.as_str(), &m.request))
            .chain(self.population.iter().map(|p| ("(population)", &p.request)));
        for (name, d) in detectors {
            if d.forest.n_features() != N_FEATURES {
                return bad(format!(
                    "API `{name}`: request forest expects {} features, this build computes {N_FEATURES}",
                    d.forest.n_features()
                ));
            }
            if !d.threshold.is_finite() {
                return bad(format!("API `{name}`: request threshold is not finite"));
            }
        }
        let behaviors = self
            .apis
            .values()
            .map(|m| (m.name.as_str(), Some(&m.behavior)))
            .chain(
                self.population
                    .iter()
                    .map(|p| ("(population)", p.behavior.as_ref())),
            );
        for (name, b) in behaviors {
            if let Some(Err(e)) = b.map(|b| b.validate()) {
                return bad(format!("API `{name}`: behavior model: {e}"));
            }
        }
        for m in self.apis.values() {
            let n = m.endpoints.endpoints.len();
            if let Some((name, i)) = m.endpoints.index.iter().find(|(_, &i)| i as usize >= n) {
                return bad(format!(
                    "API `{}`: endpoint `{name}` points to #{i} of {n}",
                    m.name
                ));
            }
        }
        Ok(())
    }

    /// Writes `dir/bundle.awm` and `dir/manifest.json` (creating `dir`).
    /// The bundle is written to a temporary file then renamed, so a reader
    /// never sees half a bundle.
    pub fn save(&self, dir: &Path) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BundleError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let payload =
            rmp_serde::to_vec_named(self).map_err(|e| BundleError::Encode(e.to_string()))?;
        let bytes = envelope::seal(&payload);
        let tmp = dir.join(format!("{BUNDLE_FILE}.tmp"));
        std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
        let dest = dir.join(BUNDLE_FILE);
        std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        let manifest = serde_json::to_vec_pretty(&self.manifest())
            .map_err(|e| BundleError::Encode(e.to_string()))?;
        let mpath = dir.join(MANIFEST_FILE);
        std::fs::write(&mpath, manifest).map_err(io(&mpath))?;
        Ok(())
    }

    /// Reads `dir/bundle.awm`.
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        let path = dir.join(BUNDLE_FILE);
        let bytes = std::fs::read(&path).map_err(|source| BundleError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    pub fn manifest(&self) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            created_at: apiwarden_record::format_ts_ms(self.created_at_ms),
            seed: self.train_config.seed,
            records: self.records,
            excluded_records: self.excluded_records,
            apis: self
                .apis
                .values()
                .map(|m| ManifestApi {
                    name: m.name.clone(),
                    records: m.records,
                    request_threshold: m.request.threshold,
                    endpoints: m
                        .endpoints
                        .endpoints
                        .iter()
                        .map(|e| ManifestEndpoint {
                            endpoint: e.name.clone(),
                            records: e.count,
                            auth: e.is_auth,
                            median_latency_ms: e.latency_median_ms,
                            median_response_bytes: e.response_bytes_median,
                        })
                        .collect(),
                })
                .collect(),
            population_model: self.population.is_some(),
        }
    }
}
