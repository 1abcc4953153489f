//! DBSCAN over nearest-neighbour lists (Ester et al., 1996), with cosine
//! similarity for distance: a point with at least `min_points` points
//! (itself included) at similarity `>= similarity` is a core point; core
//! points within that similarity of each other share a cluster (union-find);
//! a non-core point joins the cluster of its most similar core neighbour, or
//! is noise.
//!
//! Neighbours come from the vector store's HNSW index (`k` per point), not
//! from all pairs: clustering crates (linfa's DBSCAN, hdbscan) want every
//! pairwise distance or a k-d tree, which in 384 dimensions is all pairs
//! again: 10^10 dot products at 100k incidents. With the index it is one
//! search per incident. A point with more than `k` neighbours inside the
//! similarity is still core; only links beyond its `k` nearest are not seen,
//! which splits rather than merges clusters.
//!
//! DBSCAN chains: dense regions that touch become one cluster. The caller
//! checks each cluster's cohesion and splits a loose one with
//! [`dbscan_within`] at a higher similarity.

/// One point's neighbours: (index of the other point, similarity), any order.
pub type Neighbours = Vec<(usize, f32)>;

/// [`dbscan`] over only the points in `subset` (indexes into `neighbours`):
/// how a cluster too loose to be one problem is split at a higher similarity.
/// Returns indexes into `neighbours`.
pub fn dbscan_within(
    neighbours: &[Neighbours],
    subset: &[usize],
    similarity: f32,
    min_points: usize,
) -> Vec<Vec<usize>> {
    let position: std::collections::HashMap<usize, usize> =
        subset.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let local: Vec<Neighbours> = subset
        .iter()
        .map(|&i| {
            neighbours[i]
                .iter()
                .filter_map(|&(j, s)| position.get(&j).map(|&p| (p, s)))
                .collect()
        })
        .collect();
    dbscan(&local, similarity, min_points)
        .into_iter()
        .map(|cluster| cluster.into_iter().map(|p| subset[p]).collect())
        .collect()
}

/// Clusters of point indexes, largest first, each sorted; noise is left out.
pub fn dbscan(neighbours: &[Neighbours], similarity: f32, min_points: usize) -> Vec<Vec<usize>> {
    let n = neighbours.len();
    let close: Vec<Vec<(usize, f32)>> = neighbours
        .iter()
        .enumerate()
        .map(|(i, list)| {
            list.iter()
                .copied()
                .filter(|&(j, s)| j != i && j < n && s >= similarity)
                .collect()
        })
        .collect();
    let core: Vec<bool> = close
        .iter()
        .map(|list| list.len() + 1 >= min_points)
        .collect();
    let mut parent: Vec<usize> = (0..n).collect();
    for i in (0..n).filter(|&i| core[i]) {
        for &(j, _) in &close[i] {
            if core[j] {
                union(&mut parent, i, j);
            }
        }
    }
    let mut label: Vec<Option<usize>> = (0..n)
        .map(|i| core[i].then(|| find(&mut parent, i)))
        .collect();
    for i in (0..n).filter(|&i| !core[i]) {
        let nearest_core = close[i]
            .iter()
            .filter(|(j, _)| core[*j])
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some(&(j, _)) = nearest_core {
            label[i] = Some(find(&mut parent, j));
        }
    }
    let mut groups: std::collections::HashMap<usize, Vec<usize>> = Default::default();
    for (i, root) in label.iter().enumerate() {
        if let Some(root) = root {
            groups.entry(*root).or_default().push(i);
        }
    }
    let mut clusters: Vec<Vec<usize>> = groups.into_values().collect();
    for cluster in &mut clusters {
        cluster.sort_unstable();
    }
    clusters.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    clusters
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact neighbours of unit vectors, all pairs.
    fn all_pairs(points: &[Vec<f32>]) -> Vec<Neighbours> {
        points
            .iter()
            .map(|a| {
                points
                    .iter()
                    .enumerate()
                    .map(|(j, b)| (j, a.iter().zip(b).map(|(x, y)| x * y).sum()))
                    .collect()
            })
            .collect()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }

    #[test]
    fn finds_two_dense_groups_and_leaves_the_stragglers_out() {
        let mut points = Vec::new();
        for i in 0..6 {
            points.push(unit(vec![1.0, 0.02 * i as f32, 0.0]));
        }
        for i in 0..5 {
            points.push(unit(vec![0.0, 1.0, 0.03 * i as f32]));
        }
        points.push(unit(vec![0.0, 0.0, 1.0])); // alone
        points.push(unit(vec![0.7, 0.7, 0.0])); // between, close to neither
        let clusters = dbscan(&all_pairs(&points), 0.95, 4);
        assert_eq!(clusters, vec![vec![0, 1, 2, 3, 4, 5], vec![6, 7, 8, 9, 10]]);
    }

    #[test]
    fn a_border_point_joins_one_cluster_and_links_nothing() {
        // Two groups 60 degrees apart and a point halfway: close enough
        // (cos 30 = 0.866) to one member of each, too few neighbours to be core.
        let at = |degrees: f32| {
            let r = degrees.to_radians();
            vec![r.cos(), r.sin()]
        };
        let mut points: Vec<Vec<f32>> = [0.0, -3.0, -6.0, -9.0, 60.0, 63.0, 66.0, 69.0]
            .into_iter()
            .map(at)
            .collect();
        points.push(at(30.0));
        let clusters = dbscan(&all_pairs(&points), 0.85, 4);
        assert_eq!(clusters.len(), 2, "{clusters:?}");
        assert_eq!(clusters.iter().filter(|c| c.contains(&8)).count(), 1);
        assert!(clusters.iter().all(|c| !(c.contains(&0) && c.contains(&4))));
    }

    #[test]
    fn a_subset_is_clustered_on_its_own_links_only() {
        let mut points = Vec::new();
        for i in 0..4 {
            points.push(unit(vec![1.0, 0.02 * i as f32, 0.0]));
        }
        for i in 0..4 {
            points.push(unit(vec![1.0, 0.3 + 0.02 * i as f32, 0.0]));
        }
        let all = all_pairs(&points);
        // At 0.9 the two groups chain into one; inside it, at 0.99, they part.
        assert_eq!(dbscan(&all, 0.9, 3).len(), 1);
        let subset: Vec<usize> = (0..8).collect();
        assert_eq!(
            dbscan_within(&all, &subset, 0.99, 3),
            vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]
        );
    }

    #[test]
    fn nothing_dense_is_no_cluster() {
        let points: Vec<Vec<f32>> = (0..5)
            .map(|i| {
                let mut v = vec![0.0; 5];
                v[i] = 1.0;
                v
            })
            .collect();
        assert!(dbscan(&all_pairs(&points), 0.5, 2).is_empty());
    }
}
