//! Behavior of the isolation forest that callers rely on.

use apiwarden_forest::{ForestError, IsolationForest, IsolationForestParams};
use ndarray::Array2;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A tight Gaussian-ish cloud around the origin in `features` dimensions.
fn cloud(rows: usize, features: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((rows, features), |_| {
        (0..4).map(|_| rng.gen::<f64>() - 0.5).sum::<f64>()
    })
}

#[test]
fn same_seed_gives_same_scores_for_any_thread_count() {
    let data = cloud(2_000, 5, 1);
    let single = IsolationForestParams::new()
        .seed(9)
        .fit(data.view())
        .unwrap();
    let multi = IsolationForestParams::new()
        .seed(9)
        .threads(3)
        .fit(data.view())
        .unwrap();
    assert_eq!(single, multi);
    let a = single.score_batch(data.view());
    for threads in [1, 2, 3, 7] {
        assert_eq!(a, multi.score_batch_parallel(data.view(), threads));
    }
    let other_seed = IsolationForestParams::new()
        .seed(10)
        .fit(data.view())
        .unwrap();
    assert_ne!(a, other_seed.score_batch(data.view()));
}

#[test]
fn score_one_matches_batch_exactly() {
    let data = cloud(500, 4, 2);
    let forest = IsolationForestParams::new().fit(data.view()).unwrap();
    let batch = forest.score_batch(data.view());
    for (row, expected) in data.outer_iter().zip(&batch) {
        let row = row.to_vec();
        assert_eq!(forest.score_one(&row), *expected);
        assert_eq!(forest.try_score_one(&row), Ok(*expected));
    }
}

#[test]
fn obvious_outliers_score_high_and_inliers_low() {
    let mut data = cloud(1_000, 3, 3);
    for (i, v) in [8.0, -9.0, 7.5].into_iter().enumerate() {
        data[[0, i]] = v;
    }
    let forest = IsolationForestParams::new()
        .seed(4)
        .fit(data.view())
        .unwrap();
    let scores = forest.score_batch(data.view());
    assert!(scores[0] > 0.6, "outlier scored {}", scores[0]);
    let far = forest.score_one(&[20.0, 20.0, -20.0]);
    assert!(far > 0.6, "unseen far point scored {far}");
    let centre = forest.score_one(&[0.0, 0.0, 0.0]);
    assert!(centre < 0.5, "centre scored {centre}");
    let inlier_mean = scores[1..].iter().sum::<f64>() / (scores.len() - 1) as f64;
    assert!(inlier_mean < 0.5, "inliers averaged {inlier_mean}");
}

#[test]
fn serde_round_trip_keeps_scores() {
    let data = cloud(300, 3, 5);
    let forest = IsolationForestParams::new()
        .n_trees(20)
        .fit(data.view())
        .unwrap();
    let expected = forest.score_batch(data.view());

    let json = serde_json::to_string(&forest).unwrap();
    let from_json: IsolationForest = serde_json::from_str(&json).unwrap();
    // serde_json's default float parser may be off by one ulp.
    for (got, want) in from_json.score_batch(data.view()).iter().zip(&expected) {
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    let packed = rmp_serde::to_vec(&forest).unwrap();
    let from_msgpack: IsolationForest = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(from_msgpack, forest);
    assert_eq!(from_msgpack.score_batch(data.view()), expected);
}

#[test]
fn corrupt_model_is_rejected_not_trusted() {
    let data = cloud(100, 2, 6);
    let forest = IsolationForestParams::new()
        .n_trees(3)
        .fit(data.view())
        .unwrap();
    let mut value = serde_json::to_value(&forest).unwrap();
    value["feature"][0] = serde_json::json!(7);
    let err = serde_json::from_value::<IsolationForest>(value).unwrap_err();
    assert!(err.to_string().contains("feature 7 out of range"), "{err}");

    let mut value = serde_json::to_value(&forest).unwrap();
    value["left"][0] = serde_json::json!(1_000_000);
    assert!(serde_json::from_value::<IsolationForest>(value).is_err());
}

#[test]
fn bad_data_is_named() {
    let params = IsolationForestParams::new();
    assert_eq!(
        params.fit(Array2::<f64>::zeros((0, 3)).view()),
        Err(ForestError::NoRows)
    );
    assert_eq!(
        params.fit(Array2::<f64>::zeros((5, 0)).view()),
        Err(ForestError::NoFeatures)
    );
    let mut data = cloud(10, 3, 7);
    data[[4, 2]] = f64::NAN;
    match params.fit(data.view()) {
        Err(ForestError::NonFinite {
            row: 4,
            column: 2,
            value,
        }) => assert!(value.is_nan()),
        other => panic!("expected NonFinite at row 4 column 2, got {other:?}"),
    }
    data[[4, 2]] = f64::INFINITY;
    assert!(matches!(
        params.fit(data.view()),
        Err(ForestError::NonFinite {
            row: 4,
            column: 2,
            ..
        })
    ));
}

#[test]
fn wrong_feature_count_is_an_error_or_nan_never_a_panic() {
    let data = cloud(50, 3, 8);
    let forest = IsolationForestParams::new()
        .n_trees(5)
        .fit(data.view())
        .unwrap();
    assert_eq!(
        forest.try_score_one(&[1.0]),
        Err(ForestError::FeatureCount {
            expected: 3,
            got: 1
        })
    );
    let narrow = Array2::<f64>::zeros((4, 2));
    assert!(forest.try_score_batch(narrow.view()).is_err());
}

#[test]
fn sample_size_above_row_count_uses_all_rows() {
    let data = cloud(40, 2, 9);
    let forest = IsolationForestParams::new()
        .sample_size(1_000)
        .fit(data.view())
        .unwrap();
    assert_eq!(forest.sample_size(), 40);
}

#[test]
fn constant_data_scores_everything_alike() {
    let data = Array2::<f64>::from_elem((64, 3), 1.5);
    let forest = IsolationForestParams::new().fit(data.view()).unwrap();
    let scores = forest.score_batch(data.view());
    assert!(scores.iter().all(|&s| s == scores[0]));
    assert!((scores[0] - 0.5).abs() < 1e-12, "got {}", scores[0]);
}

#[test]
fn non_contiguous_views_score_like_owned_rows() {
    let data = cloud(300, 4, 10);
    let forest = IsolationForestParams::new()
        .n_trees(10)
        .fit(data.view())
        .unwrap();
    // Every other column of a wider table: rows are strided, not contiguous.
    let mut wide = Array2::<f64>::zeros((300, 8));
    wide.slice_mut(ndarray::s![.., ..;2]).assign(&data);
    let view = wide.slice(ndarray::s![.., ..;2]);
    assert!(view.as_slice().is_none());
    assert_eq!(forest.score_batch(view), forest.score_batch(data.view()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn scores_are_in_unit_interval(
        seed in any::<u64>(),
        rows in 2usize..60,
        features in 1usize..5,
        probe in proptest::collection::vec(-1e300f64..1e300, 4),
    ) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let data = Array2::from_shape_fn((rows, features), |_| rng.gen_range(-1e6..1e6));
        let forest = IsolationForestParams::new().n_trees(10).seed(seed).fit(data.view()).unwrap();
        for s in forest.score_batch(data.view()) {
            prop_assert!(s > 0.0 && s <= 1.0, "score {}", s);
        }
        let s = forest.score_one(&probe[..features]);
        prop_assert!(s > 0.0 && s <= 1.0, "probe score {}", s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The scoring kernel trusts node indices, so a tampered model must be
    /// either rejected on load or still score without touching memory out of range.
    #[test]
    fn tampered_models_are_rejected_or_score_safely(
        field in prop::sample::select(vec!["left", "feature", "roots", "heights"]),
        position in any::<prop::sample::Index>(),
        value in prop_oneof![0u64..600, Just(u32::MAX as u64), any::<u8>().prop_map(u64::from)],
    ) {
        let data = cloud(64, 3, 11);
        let forest = IsolationForestParams::new().n_trees(4).sample_size(32).fit(data.view()).unwrap();
        let mut json = serde_json::to_value(&forest).unwrap();
        let array = json[field].as_array_mut().unwrap();
        let at = position.index(array.len());
        array[at] = serde_json::json!(value);
        if let Ok(loaded) = serde_json::from_value::<IsolationForest>(json) {
            for s in loaded.score_batch(data.view()) {
                prop_assert!(s > 0.0 && s <= 1.0);
            }
        }
    }
}
