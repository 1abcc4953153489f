//! Embedder parity with sentence-transformers on the repository's own reference
//! (`tests/fixtures/minilm_parity.jsonl`, made by `scripts/make-parity-fixture.sh`,
//! which also makes `mpnet_parity.jsonl` and checks the first against the project's shared reference where present).

use switchboard::embed::SentenceEncoder;

use crate::helpers::repo;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// The texts and reference embeddings in a parity file.
fn reference(path: &std::path::Path) -> (Vec<String>, Vec<Vec<f32>>) {
    let raw = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is needed for the parity test: {e}", path.display()));
    raw.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = value["text"].as_str().unwrap().to_owned();
            let embedding = value["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            (text, embedding)
        })
        .unzip()
}

/// Embeds every text of `path` with the model in `models/{model}`, packed, split
/// into small passes and one by one, and checks each against the reference at
/// cosine >= 0.9999.
fn assert_parity(path: &std::path::Path, model: &str, max_tokens: usize) {
    let (texts, expected) = reference(path);
    assert!(texts.len() >= 50, "reference has {} lines", texts.len());
    let dir = repo().join("models").join(model);
    let model = SentenceEncoder::load(&dir).unwrap_or_else(|e| {
        panic!("{e}: fetch it with scripts/fetch-model.sh or scripts/fetch-mpnet.sh")
    });
    assert_eq!(model.max_tokens(), max_tokens);
    let batched = model.embed(&texts, 32).unwrap();
    let model = model.with_max_pass_tokens(64);
    let split = model.embed(&texts, 32).unwrap();
    let mut worst = 1f32;
    for (i, ((ours, theirs), split)) in batched.iter().zip(&expected).zip(&split).enumerate() {
        let c = cosine(ours, theirs).min(cosine(split, theirs));
        worst = worst.min(c);
        assert!(
            c >= 0.9999,
            "{} line {}: cosine {c} for {:?}",
            path.display(),
            i + 1,
            texts[i].chars().take(60).collect::<String>()
        );
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    eprintln!(
        "{}: lowest cosine to sentence-transformers {worst:.6}",
        path.display()
    );
    for (i, text) in texts.iter().enumerate().step_by(7) {
        let single = model.embed(std::slice::from_ref(text), 1).unwrap();
        assert!(
            cosine(&single[0], &expected[i]) >= 0.9999,
            "line {} unbatched",
            i + 1
        );
    }
}

#[test]
fn minilm_embeddings_match_sentence_transformers() {
    assert_parity(
        &repo().join("tests/fixtures/minilm_parity.jsonl"),
        "all-MiniLM-L6-v2",
        256,
    );
}

#[test]
fn mpnet_embeddings_match_sentence_transformers() {
    assert_parity(
        &repo().join("tests/fixtures/mpnet_parity.jsonl"),
        "all-mpnet-base-v2",
        384,
    );
}
