//! Arithmetic on embeddings that several services share.

/// The dot product of two vectors: their cosine similarity when both are
/// unit length, as every stored embedding is.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
