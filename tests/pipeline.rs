//! The quick pipeline end to end on the embedded digits.

use burn::tensor::Device;
use csvae::data::Dataset;
use csvae::pipeline::{Pipeline, PipelineConfig, Stage};

#[test]
fn quick_pipeline_writes_every_section() {
    let device = Device::flex();
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut events = 0usize;
    let report = Pipeline::new(PipelineConfig::quick())
        .run(&data, &device, dir.path(), &mut |_| events += 1)
        .expect("the quick pipeline runs");

    for file in [
        "config.json",
        "report.json",
        "report.md",
        "reconstructions.png",
        "samples.png",
        "sweep.svg",
        "sweep.csv",
        "cvae.bpk",
        "cvae_after_sleep.bpk",
        "csvae.safetensors",
        "conversion.json",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    assert!(events > 14, "progress was reported");

    // Every stage ran and was timed.
    let stages: Vec<Stage> = report
        .stage_seconds
        .iter()
        .map(|(stage, _)| *stage)
        .collect();
    assert_eq!(stages, Stage::ALL.to_vec());

    // The trained network reconstructs better than an untrained one would (PSNR of a blank
    // image against MNIST digits is about 9 dB).
    assert!(report.analog_test.psnr > 11.0, "{:?}", report.analog_test);
    // The CSVAE follows the CVAE.
    assert!(
        report.spiking.mse_to_analog < report.spiking.analog.mse,
        "{:?}",
        report.spiking
    );
    assert!(report.spiking.sop_per_mac > 0.0);
    assert_eq!(report.sweep.len(), 3 * 2);
    // The quick sleep changes weights (its rates are small enough for the runaway guard).
    assert!(
        report.sleep.inputs_applied > 0,
        "{:?}",
        report.sleep.early_stop
    );
    assert!(
        report
            .sleep_change_norms
            .iter()
            .any(|(_, norm)| *norm > 0.0),
        "{:?}",
        report.sleep_change_norms
    );
    // Before, after, random change, one gain.
    assert_eq!(report.conditions.len(), 4);
    for condition in &report.conditions {
        assert_eq!(condition.robustness.len(), 6, "{}", condition.condition);
        assert!(
            condition.latent_accuracy.nearest_centroid > 0.2,
            "{condition:?}"
        );
    }

    let markdown = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    for section in [
        "## Stage wall times",
        "## Analog CVAE",
        "## Conversion",
        "## CSVAE on Bernoulli-encoded test images",
        "## Error and SOP against T",
        "## Sleep",
        "## Before and after sleep, with controls",
    ] {
        assert!(
            markdown.contains(section),
            "{section} missing from report.md"
        );
    }
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report.json"),
    )
    .expect("valid JSON");
    for key in [
        "training",
        "spiking",
        "sweep",
        "sleep",
        "conditions",
        "stage_seconds",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from report.json");
    }
}

#[test]
fn config_json_rejects_unknown_fields() {
    let config = PipelineConfig::default();
    let json = serde_json::to_value(&config).expect("serialise");
    let back: PipelineConfig = serde_json::from_value(json.clone()).expect("round trip");
    assert_eq!(back, config);

    // A misspelt key fails instead of being dropped silently, at any depth.
    for (section, key) in [(None, "sleep_image"), (Some("sleep"), "steps")] {
        let mut edited = json.clone();
        let object = match section {
            Some(name) => &mut edited[name],
            None => &mut edited,
        };
        object
            .as_object_mut()
            .expect("object")
            .insert(key.to_string(), serde_json::json!(5));
        let err = serde_json::from_value::<PipelineConfig>(edited).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
}

#[test]
fn invalid_config_fails_before_output() {
    let data = Dataset::embedded_mnist().expect("embedded sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let mut config = PipelineConfig::quick();
    config.sleep.guard.max_relative_change = Some(0.0);
    let err = Pipeline::new(config)
        .run(&data, &Device::flex(), &out, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("max_relative_change"), "{err}");
    assert!(!out.exists(), "the run folder was created");
}
