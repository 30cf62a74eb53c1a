//! Competition between neurons on the host: point-wise inhibition and k-winners-take-all with
//! lateral inhibition, after SpykeTorch (Mozafari et al. 2019).
//!
//! Both work on one image's layer, row-major `[channels, height, width]`.

use super::config::Winners;

/// Returns the spikes of a layer under point-wise inhibition: at each position `(y, x)` only
/// the feature map with the highest potential may fire, and it fires when that potential
/// reaches `v_threshold`. Ties go to the lowest channel.
///
/// # Panics
///
/// Panics when `potentials` does not have `channels * height * width` values.
pub fn pointwise_inhibition(potentials: &[f32], shape: [usize; 3], v_threshold: f32) -> Vec<bool> {
    let [channels, height, width] = shape;
    let plane = height * width;
    assert_eq!(
        potentials.len(),
        channels * plane,
        "{} potentials do not fit shape {shape:?}",
        potentials.len()
    );
    let mut spikes = vec![false; potentials.len()];
    for position in 0..plane {
        let mut best: Option<(usize, f32)> = None;
        for channel in 0..channels {
            let v = potentials[channel * plane + position];
            if best.is_none_or(|(_, best_v)| v > best_v) {
                best = Some((channel, v));
            }
        }
        if let Some((channel, v)) = best
            && v >= v_threshold
        {
            spikes[channel * plane + position] = true;
        }
    }
    spikes
}

/// Selects up to `winners.k` neurons among those that fired, highest potential first.
///
/// After each choice, every other neuron of the winner's feature map, and every neuron of any
/// feature map within `winners.radius` positions (`max(|dy|, |dx|) <= radius`), can no longer
/// win. Ties in potential go to the lower flat index. Returns the flat indices into
/// `[channels, height, width]` in the order chosen.
///
/// # Panics
///
/// Panics when `potentials` or `spikes` does not have `channels * height * width` values.
pub fn select_winners(
    potentials: &[f32],
    spikes: &[bool],
    shape: [usize; 3],
    winners: Winners,
) -> Vec<usize> {
    let [channels, height, width] = shape;
    let plane = height * width;
    assert!(
        potentials.len() == channels * plane && spikes.len() == potentials.len(),
        "{} potentials and {} spikes do not fit shape {shape:?}",
        potentials.len(),
        spikes.len()
    );
    let candidates = ranked_candidates(potentials, spikes);

    let mut chosen: Vec<usize> = Vec::with_capacity(winners.k);
    let mut map_taken = vec![false; channels];
    for index in candidates {
        if chosen.len() == winners.k {
            break;
        }
        let channel = index / plane;
        let (y, x) = ((index % plane) / width, index % width);
        let inhibited = chosen.iter().any(|&other| {
            let (other_y, other_x) = ((other % plane) / width, other % width);
            y.abs_diff(other_y) <= winners.radius && x.abs_diff(other_x) <= winners.radius
        });
        if !map_taken[channel] && !inhibited {
            map_taken[channel] = true;
            chosen.push(index);
        }
    }
    chosen
}

/// Selects up to `k` neurons of a layer without spatial layout among those that fired, highest
/// potential first, ties to the lower index.
///
/// # Panics
///
/// Panics when `potentials` and `spikes` differ in length.
pub fn select_top_k(potentials: &[f32], spikes: &[bool], k: usize) -> Vec<usize> {
    assert_eq!(
        potentials.len(),
        spikes.len(),
        "{} potentials but {} spikes",
        potentials.len(),
        spikes.len()
    );
    let mut candidates = ranked_candidates(potentials, spikes);
    candidates.truncate(k);
    candidates
}

/// Returns the indices of the neurons that fired, by decreasing potential, ties by index.
fn ranked_candidates(potentials: &[f32], spikes: &[bool]) -> Vec<usize> {
    let mut candidates: Vec<usize> = spikes
        .iter()
        .enumerate()
        .filter_map(|(index, &fired)| fired.then_some(index))
        .collect();
    // The sort is stable, so equal potentials keep index order.
    candidates.sort_by(|&a, &b| potentials[b].total_cmp(&potentials[a]));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointwise_keeps_highest_map() {
        // Two maps, one row of two positions: position 0 has 1.5 vs 2.0 -> map 1 fires;
        // position 1 has 3.0 vs 0.5 -> map 0 fires.
        let potentials = [1.5, 3.0, 2.0, 0.5];
        let spikes = pointwise_inhibition(&potentials, [2, 1, 2], 1.0);
        assert_eq!(spikes, vec![false, true, true, false]);
    }

    #[test]
    fn pointwise_respects_threshold() {
        let spikes = pointwise_inhibition(&[0.5, 0.9], [2, 1, 1], 1.0);
        assert_eq!(spikes, vec![false, false]);
    }

    #[test]
    fn winners_inhibit_neighbourhood_and_map() {
        // Two maps of 1x4. Fired: map 0 at x = 0 (v 5), x = 3 (v 4); map 1 at x = 1 (v 3),
        // x = 3 (v 1). Radius 1: the first winner (0, x 0) blocks x = 1 in every map and all of
        // map 0, so (0, x 3) is out; (1, x 1) is blocked by distance; (1, x 3) wins.
        let potentials = [5.0, 0.0, 0.0, 4.0, 0.0, 3.0, 0.0, 1.0];
        let spikes = [true, false, false, true, false, true, false, true];
        let chosen = select_winners(&potentials, &spikes, [2, 1, 4], Winners { k: 3, radius: 1 });
        assert_eq!(chosen, vec![0, 7]);
    }

    #[test]
    fn top_k_orders_by_potential() {
        let chosen = select_top_k(&[0.2, 0.9, 0.5, 0.9], &[true, true, false, true], 2);
        assert_eq!(chosen, vec![1, 3]);
    }
}
