//! SVG plots of sweep results.

use std::path::Path;

use plotters::prelude::*;

use crate::error::CsvaeError;
use crate::sweep::{AnalogBaseline, SweepRow};

const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (low, high) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if low > high {
        return 1e-3..1.0;
    }
    low / 1.5..high * 1.5
}

/// Draws the error against the input, the error against the CVAE, and SOP / MAC against T, one
/// line per encoder, and writes an SVG atomically.
///
/// # Errors
/// [`CsvaeError::Plot`] when drawing fails, [`CsvaeError::Io`] when writing fails.
pub fn plot_sweep(
    path: &Path,
    baseline: &AnalogBaseline,
    rows: &[SweepRow],
) -> Result<(), CsvaeError> {
    let plot_error = |message: String| CsvaeError::Plot {
        path: path.to_path_buf(),
        message,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
        let panels = root.split_evenly((1, 2));
        let t_values = rows.iter().map(|r| r.time_steps as f64);
        let t_range = log_range(t_values);
        let mut encoders: Vec<&str> = rows.iter().map(|r| r.encoder.as_str()).collect();
        encoders.dedup();

        let errors = rows
            .iter()
            .flat_map(|r| [r.mse, r.mse_to_analog])
            .chain([baseline.mse]);
        let mut chart = ChartBuilder::on(&panels[0])
            .caption("Reconstruction error", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(t_range.clone().log_scale(), log_range(errors).log_scale())
            .map_err(|e| plot_error(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time steps T")
            .y_desc("MSE per pixel")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(|e| plot_error(e.to_string()))?;
        let (t_low, t_high) = (t_range.start, t_range.end);
        chart
            .draw_series(LineSeries::new(
                [(t_low, baseline.mse), (t_high, baseline.mse)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| plot_error(e.to_string()))?
            .label("CVAE vs input")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        for (i, encoder) in encoders.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let series: Vec<&SweepRow> = rows.iter().filter(|r| r.encoder == *encoder).collect();
            chart
                .draw_series(LineSeries::new(
                    series.iter().map(|r| (r.time_steps as f64, r.mse)),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_error(e.to_string()))?
                .label(format!("CSVAE vs input ({encoder})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(LineSeries::new(
                    series
                        .iter()
                        .map(|r| (r.time_steps as f64, r.mse_to_analog)),
                    ShapeStyle::from(color).stroke_width(1),
                ))
                .map_err(|e| plot_error(e.to_string()))?
                .label(format!("CSVAE vs CVAE ({encoder})"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(series.iter().map(|r| {
                    Circle::new((r.time_steps as f64, r.mse_to_analog), 3, color.filled())
                }))
                .map_err(|e| plot_error(e.to_string()))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_error(e.to_string()))?;

        let ratios = rows.iter().map(|r| r.sop_per_mac);
        let mut chart = ChartBuilder::on(&panels[1])
            .caption("Synaptic operations / analog MACs", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(t_range.log_scale(), log_range(ratios).log_scale())
            .map_err(|e| plot_error(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("time steps T")
            .y_desc("SOP / MAC")
            .draw()
            .map_err(|e| plot_error(e.to_string()))?;
        for (i, encoder) in encoders.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    rows.iter()
                        .filter(|r| r.encoder == *encoder)
                        .map(|r| (r.time_steps as f64, r.sop_per_mac)),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_error(e.to_string()))?
                .label(encoder.to_string())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_error(e.to_string()))?;
        root.present().map_err(|e| plot_error(e.to_string()))?;
    }
    csvae_data::fs::write_atomic(path, svg.as_bytes()).map_err(|source| CsvaeError::Io {
        path: path.to_path_buf(),
        source,
    })
}
