//! ROC AUC on the Isolation Forest paper's own benchmark sets (ODDS), against
//! Liu, Ting & Zhou (2008) Table 3: 100 trees x 256 samples, fit and score on
//! all rows, mean of several seeds. Data is read in place from the shared
//! datasets directory (see [`odds_dir`]); the test is skipped with a message
//! when it is absent.

use apiwarden_eval::metrics::roc_auc;
use apiwarden_forest::IsolationForestParams;
use flate2::read::GzDecoder;
use ndarray::Array2;
use std::fs::File;
use std::path::PathBuf;

/// Tree `i` is seeded `seed + i`, so runs need seeds at least `n_trees` apart
/// to share no tree.
const SEEDS: [u64; 5] = [0, 1000, 2000, 3000, 4000];
const TOLERANCE: f64 = 0.02;

/// `$APIWARDEN_ODDS_DIR`, else `shared/` beside the checkout (as CI lays it
/// out), else the development machine's `/work/shared`.
fn odds_dir() -> Option<PathBuf> {
    let beside_checkout =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/odds");
    std::env::var_os("APIWARDEN_ODDS_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([beside_checkout, PathBuf::from("/work/shared/datasets/odds")])
        .find(|dir| dir.is_dir())
}

/// Features and labels (last column `label`, 1 = anomaly).
fn load(dir: &std::path::Path, name: &str) -> (Array2<f64>, Vec<bool>) {
    let path = dir.join(format!("{name}.csv.gz"));
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut columns = 0;
    for record in reader.records() {
        let record = record.unwrap();
        columns = record.len() - 1;
        let mut cells = record.iter().map(|c| c.parse::<f64>().unwrap());
        values.extend(cells.by_ref().take(columns));
        labels.push(cells.next().unwrap() == 1.0);
    }
    let rows = labels.len();
    (
        Array2::from_shape_vec((rows, columns), values).unwrap(),
        labels,
    )
}

fn mean_auc(data: &Array2<f64>, labels: &[bool]) -> f64 {
    let aucs: Vec<f64> = SEEDS
        .iter()
        .map(|&seed| {
            let forest = IsolationForestParams::new()
                .seed(seed)
                .threads(2)
                .fit(data.view())
                .unwrap();
            roc_auc(&forest.score_batch(data.view()), labels).unwrap()
        })
        .collect();
    aucs.iter().sum::<f64>() / aucs.len() as f64
}

#[test]
fn matches_the_paper_on_small_odds_sets() {
    let Some(dir) = odds_dir() else {
        eprintln!("ODDS data not found; set APIWARDEN_ODDS_DIR to run this test");
        return;
    };
    // (dataset, Liu et al. 2008 Table 3 ROC AUC)
    let cases = [
        ("breastw", 0.99),
        ("ionosphere", 0.85),
        ("annthyroid", 0.82),
        ("mammography", 0.86),
        ("pima", 0.67),
    ];
    let mut misses = Vec::new();
    for (name, paper) in cases {
        let (data, labels) = load(&dir, name);
        let auc = mean_auc(&data, &labels);
        eprintln!("{name}: AUC {auc:.4} (paper {paper:.2})");
        if (auc - paper).abs() > TOLERANCE {
            misses.push(format!("{name}: {auc:.4} vs paper {paper}"));
        }
    }
    assert!(misses.is_empty(), "outside ±{TOLERANCE}: {misses:?}");
}
