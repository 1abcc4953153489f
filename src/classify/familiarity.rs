//! How close a ticket must come to the history for a suggestion to be
//! trusted without a person: measured on the history itself, as the
//! similarity each stored incident has to its nearest other incident. A
//! ticket farther from every incident than almost any incident is from its
//! neighbour is about something the desk has not seen.

use rayon::prelude::*;

use crate::vectors::dot;

/// Incidents measured at most (a deterministic stride through them): the
/// quantile is stable well before, and the cost then grows only with the
/// store, not with its square.
const SAMPLE: usize = 2_000;

/// Share of stored incidents allowed below the floor: those are outliers
/// of the history itself.
pub const FLOOR_QUANTILE: f64 = 0.01;

/// The similarity below which a ticket's nearest incident counts as far:
/// the [`FLOOR_QUANTILE`] of each sampled incident's similarity to its
/// nearest other incident. `vectors` are unit length; `None` with fewer
/// than 50 of them (too few to say what is near).
pub fn neighbour_floor(vectors: &[&[f32]]) -> Option<f32> {
    if vectors.len() < 50 {
        return None;
    }
    let stride = vectors.len().div_ceil(SAMPLE).max(1);
    let sampled: Vec<usize> = (0..vectors.len()).step_by(stride).collect();
    // Each sampled incident against all: 2,000 x 100k x 384 is ~77 GFLOP,
    // so over every core, as the head's own training is.
    let mut nearest: Vec<f32> = sampled
        .par_iter()
        .map(|&i| {
            vectors
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, other)| dot(vectors[i], other))
                .fold(f32::MIN, f32::max)
        })
        .collect();
    nearest.sort_by(f32::total_cmp);
    let at = ((nearest.len() as f64 * FLOOR_QUANTILE) as usize).min(nearest.len() - 1);
    Some(nearest[at])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    #[test]
    fn the_floor_lies_below_almost_every_incidents_nearest_neighbour() {
        // Two tight clusters, each incident close to another.
        let vectors: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                let jitter = (i % 10) as f32 * 0.01;
                if i % 2 == 0 {
                    unit(vec![1.0, jitter, 0.0])
                } else {
                    unit(vec![0.0, jitter, 1.0])
                }
            })
            .collect();
        let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        let floor = neighbour_floor(&refs).unwrap();
        assert!(floor > 0.99, "{floor}");
        // A ticket between the clusters is farther than that from both.
        let between = unit(vec![1.0, 0.0, 1.0]);
        assert!(dot(&between, &vectors[0]) < floor);
        assert_eq!(neighbour_floor(&refs[..10]), None);
    }
}
