//! [`ClassifierHead`]: one softmax regression per label field over shared
//! TF-IDF terms and the ticket embedding, trained from the stored incidents,
//! saved to one file and swapped in whole.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::features::{CHAR_GRAM_PREFIX, SparseRow, Vocabulary};
use super::softmax::{Example, SoftmaxRegression, TrainOptions};

/// How the classifier head is trained and how much it counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HeadOptions {
    /// Train and use the head at all; off means neighbour voting alone.
    pub enabled: bool,
    /// Share of the head in a suggestion's score; the neighbours' vote has the rest.
    pub weight: f32,
    /// Most L-BFGS iterations; training usually converges well before.
    pub max_iterations: usize,
    /// L2 penalty next to the mean loss per incident (scikit-learn's `C` is
    /// `1 / (l2 * incidents)`).
    pub l2: f32,
    /// 0 ignores class imbalance, 1 weights every class equally.
    pub class_balance: f32,
    /// A term must occur in this many incidents to become a feature.
    pub min_term_incidents: usize,
    /// Largest vocabulary kept (the most frequent terms). Training holds about
    /// 20 copies of `terms x labels` floats (L-BFGS history and gradients), so
    /// this bounds retrain memory: 50,000 terms x 74 labels is ~300 MB.
    pub max_terms: usize,
    /// Add 3-5 character pieces of words as terms (typos, inflections, compounds).
    pub char_grams: bool,
    /// Scale of the embedding next to the unit-length TF-IDF row.
    pub embedding_weight: f32,
    /// A field gets a head only with this many labelled incidents.
    pub min_incidents: usize,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            weight: 0.8,
            max_iterations: 300,
            l2: 1e-5,
            class_balance: 0.6,
            min_term_incidents: 2,
            max_terms: 50_000,
            char_grams: false,
            embedding_weight: 1.0,
            min_incidents: 20,
        }
    }
}

/// Failures of training, saving and loading the head.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Nothing to learn from.
    #[error("no field has at least {0} labelled incidents to train on")]
    NothingToTrain(usize),
    /// The file could not be read or written.
    #[error("classifier file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a classifier head this version can read.
    #[error("classifier file {path} is not valid: {reason}")]
    Format {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// What the head learned about one incident: its text, its embedding, its labels.
#[derive(Debug, Clone)]
pub struct TrainingExample {
    /// Model input text of the incident.
    pub text: String,
    /// Its embedding.
    pub vector: Vec<f32>,
    /// Label field -> value.
    pub labels: BTreeMap<String, String>,
}

/// A term and how much it pushed a label up.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct TermWeight {
    /// The word or word pair.
    pub term: String,
    /// Its push on the label's score (logit units, relative to the average label).
    pub weight: f32,
}

/// A ticket turned into the head's inputs.
#[derive(Debug, Clone)]
pub struct Features {
    sparse: SparseRow,
    dense: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
struct FieldModel {
    classes: Vec<String>,
    model: SoftmaxRegression,
}

/// Softmax regressions per label field over shared features.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierHead {
    vocabulary: Vocabulary,
    embedding_weight: f32,
    dimension: usize,
    fields: BTreeMap<String, FieldModel>,
    trained_on: usize,
    /// Similarity below which a ticket's nearest incident is far from the
    /// history it was trained on ([`super::neighbour_floor`]).
    neighbour_floor: Option<f32>,
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    terms: Vec<String>,
    idf: Vec<f32>,
    char_grams: bool,
    embedding_weight: f32,
    dimension: usize,
    trained_on: usize,
    fields: BTreeMap<String, Vec<String>>,
    /// Absent in heads saved before it was measured.
    #[serde(default)]
    neighbour_floor: Option<f32>,
}

const MAGIC: &[u8; 8] = b"SWBHEAD1";
/// Training stops when an L-BFGS iteration improves the objective by less than this share.
const TOLERANCE: f64 = 1e-6;

impl ClassifierHead {
    /// Trains a head for every field with at least `options.min_incidents` labelled examples.
    pub fn train(examples: &[TrainingExample], options: &HeadOptions) -> Result<Self, HeadError> {
        let dimension = examples.first().map_or(0, |e| e.vector.len());
        let vocabulary = Vocabulary::fit(
            examples.iter().map(|e| e.text.as_str()),
            options.min_term_incidents,
            options.max_terms,
            options.char_grams,
        );
        let rows: Vec<(SparseRow, Vec<f32>)> = examples
            .iter()
            .map(|e| {
                let dense = e
                    .vector
                    .iter()
                    .map(|v| v * options.embedding_weight)
                    .collect();
                (vocabulary.transform(&e.text), dense)
            })
            .collect();
        let mut by_field: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, example) in examples.iter().enumerate() {
            if example.vector.len() != dimension {
                continue;
            }
            for field in example.labels.keys() {
                by_field.entry(field.as_str()).or_default().push(i);
            }
        }
        by_field.retain(|_, rows| rows.len() >= options.min_incidents.max(1));
        if by_field.is_empty() {
            return Err(HeadError::NothingToTrain(options.min_incidents));
        }
        let train_options = TrainOptions {
            max_iterations: options.max_iterations,
            tolerance: TOLERANCE,
            l2: options.l2,
            class_balance: options.class_balance,
        };
        let n_sparse = vocabulary.len();
        let train_field = |field: &str, members: &[usize]| {
            let mut classes: Vec<String> = members
                .iter()
                .map(|&i| examples[i].labels[field].clone())
                .collect();
            classes.sort();
            classes.dedup();
            let data: Vec<Example<'_>> = members
                .iter()
                .map(|&i| Example {
                    sparse: &rows[i].0,
                    dense: &rows[i].1,
                    class: classes
                        .binary_search(&examples[i].labels[field])
                        .unwrap_or_default() as u32,
                })
                .collect();
            let model =
                SoftmaxRegression::train(&data, classes.len(), n_sparse, dimension, &train_options);
            FieldModel { classes, model }
        };
        // One field at a time: each training pass already uses every core.
        let fields = by_field
            .into_iter()
            .map(|(field, members)| (field.to_owned(), train_field(field, &members)))
            .collect();
        Ok(Self {
            vocabulary,
            embedding_weight: options.embedding_weight,
            dimension,
            fields,
            trained_on: examples.len(),
            neighbour_floor: super::neighbour_floor(
                &examples
                    .iter()
                    .filter(|e| e.vector.len() == dimension)
                    .map(|e| e.vector.as_slice())
                    .collect::<Vec<_>>(),
            ),
        })
    }

    /// Similarity below which a ticket's nearest stored incident is farther
    /// from the history than almost any incident is from its own nearest
    /// (`None` when trained on too few, or saved before it was measured).
    pub fn neighbour_floor(&self) -> Option<f32> {
        self.neighbour_floor
    }

    /// Number of incidents the head was trained on.
    pub fn trained_on(&self) -> usize {
        self.trained_on
    }

    /// Number of terms in the vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.vocabulary.len()
    }

    /// Fields the head predicts.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().map(String::as_str)
    }

    /// The head's inputs for a ticket text and its embedding.
    pub fn features(&self, text: &str, vector: &[f32]) -> Features {
        let dense = if vector.len() == self.dimension {
            vector.iter().map(|v| v * self.embedding_weight).collect()
        } else {
            Vec::new()
        };
        Features {
            sparse: self.vocabulary.transform(text),
            dense,
        }
    }

    /// Probability of every label of `field`, or `None` when the head has no model for it.
    pub fn probabilities(&self, field: &str, features: &Features) -> Option<Vec<(&str, f32)>> {
        let field = self.fields.get(field)?;
        let p = field.model.probabilities(&features.sparse, &features.dense);
        Some(field.classes.iter().map(String::as_str).zip(p).collect())
    }

    /// The terms of the ticket that pushed `label` of `field` up the most.
    pub fn explain(
        &self,
        field: &str,
        label: &str,
        features: &Features,
        limit: usize,
    ) -> Vec<TermWeight> {
        let Some(model) = self.fields.get(field) else {
            return Vec::new();
        };
        let Ok(class) = model.classes.binary_search_by(|c| c.as_str().cmp(label)) else {
            return Vec::new();
        };
        // Character pieces, stop words, numbers and fragments weigh in the
        // score but are not shown: only meaningful words and word pairs
        // explain anything to a person.
        let words: SparseRow = features
            .sparse
            .iter()
            .filter(|(j, _)| {
                let term = self.vocabulary.term(*j);
                !term.starts_with(CHAR_GRAM_PREFIX) && super::explains(term)
            })
            .copied()
            .collect();
        model
            .model
            .top_contributions(&words, class, limit)
            .into_iter()
            .map(|(j, weight)| TermWeight {
                term: self.vocabulary.term(j).to_owned(),
                weight,
            })
            .collect()
    }

    /// The head as bytes: a magic, a JSON header (vocabulary, classes) and
    /// the weights as little-endian floats. [`ClassifierHead::from_bytes`]
    /// reads them back; the state database keeps heads this way.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = FileHeader {
            terms: (0..self.vocabulary.len() as u32)
                .map(|i| self.vocabulary.term(i).to_owned())
                .collect(),
            idf: (0..self.vocabulary.len())
                .map(|i| self.vocabulary.idf(i))
                .collect(),
            char_grams: self.vocabulary.char_grams(),
            embedding_weight: self.embedding_weight,
            dimension: self.dimension,
            trained_on: self.trained_on,
            fields: self
                .fields
                .iter()
                .map(|(f, m)| (f.clone(), m.classes.clone()))
                .collect(),
            neighbour_floor: self.neighbour_floor,
        };
        let header = serde_json::to_vec(&header).expect("a head's header serialises");
        let mut bytes = Vec::with_capacity(16 + header.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for model in self.fields.values() {
            let m = &model.model;
            for values in [&m.sparse_weights, &m.dense_weights, &m.bias] {
                for v in values.iter() {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        bytes
    }

    /// Writes the head to `path` atomically and durably (a synced temporary
    /// file renamed over it, then the directory synced).
    pub fn save(&self, path: &Path) -> Result<(), HeadError> {
        let io = |source| HeadError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&self.to_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io),
            _ => Ok(()),
        }
    }

    /// Reads a head written by [`ClassifierHead::save`]; `Ok(None)` when there is no file.
    pub fn load(path: &Path) -> Result<Option<Self>, HeadError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_bytes(&bytes, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(HeadError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Reads a head from [`ClassifierHead::to_bytes`]'s bytes; `origin` names
    /// where they came from in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Self, HeadError> {
        let bad = |reason: &str| HeadError::Format {
            path: origin.to_owned(),
            reason: reason.to_owned(),
        };
        let mut reader = bytes;
        let mut magic = [0u8; 8];
        let mut len = [0u8; 8];
        reader
            .read_exact(&mut magic)
            .and_then(|()| reader.read_exact(&mut len))
            .map_err(|_| bad("truncated header"))?;
        if &magic != MAGIC {
            return Err(bad("not a switchboard classifier file"));
        }
        let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad("bad header"))?;
        if len > reader.len() {
            return Err(bad("truncated header"));
        }
        let header: FileHeader =
            serde_json::from_slice(&reader[..len]).map_err(|e| bad(&e.to_string()))?;
        let mut floats = reader[len..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        if header.terms.len() != header.idf.len() {
            return Err(bad("vocabulary and idf differ in length"));
        }
        let n_sparse = header.terms.len();
        let mut fields = BTreeMap::new();
        let mut expected = 0usize;
        for (field, classes) in header.fields {
            let k = classes.len();
            let mut take = |n: usize| -> Vec<f32> { floats.by_ref().take(n).collect() };
            let model = SoftmaxRegression {
                n_classes: k,
                sparse_weights: take(n_sparse * k),
                dense_weights: take(header.dimension * k),
                bias: take(k),
            };
            expected += (n_sparse + header.dimension + 1) * k;
            fields.insert(field, FieldModel { classes, model });
        }
        if (reader.len() - len) != expected * 4 {
            return Err(bad("weights do not match the header"));
        }
        Ok(Self {
            vocabulary: Vocabulary::from_parts(header.terms, header.idf, header.char_grams),
            embedding_weight: header.embedding_weight,
            dimension: header.dimension,
            fields,
            trained_on: header.trained_on,
            neighbour_floor: header.neighbour_floor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, vector: [f32; 2], group: &str) -> TrainingExample {
        TrainingExample {
            text: text.to_owned(),
            vector: vector.to_vec(),
            labels: BTreeMap::from([("assignment_group".to_owned(), group.to_owned())]),
        }
    }

    fn fixture() -> Vec<TrainingExample> {
        (0..30)
            .flat_map(|i| {
                [
                    example(&format!("vpn tunnel drops {i}"), [1.0, 0.0], "Network"),
                    example(&format!("printer paper jam {i}"), [0.0, 1.0], "Desktop"),
                ]
            })
            .collect()
    }

    #[test]
    fn learns_explains_and_round_trips_through_a_file() {
        let options = HeadOptions {
            min_incidents: 10,
            ..HeadOptions::default()
        };
        let head = ClassifierHead::train(&fixture(), &options).unwrap();
        let features = head.features("the vpn tunnel keeps dropping", &[0.7, 0.7]);
        let p = head.probabilities("assignment_group", &features).unwrap();
        let best = p.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(best.0, "Network");
        let terms = head.explain("assignment_group", "Network", &features, 3);
        assert!(terms.iter().any(|t| t.term == "vpn"), "{terms:?}");
        assert!(head.probabilities("category", &features).is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head.bin");
        head.save(&path).unwrap();
        let loaded = ClassifierHead::load(&path).unwrap().unwrap();
        assert_eq!(loaded, head);
        assert!(
            ClassifierHead::load(&dir.path().join("none.bin"))
                .unwrap()
                .is_none()
        );

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(
            ClassifierHead::load(&path),
            Err(HeadError::Format { .. })
        ));
    }

    #[test]
    fn too_few_examples_is_an_error() {
        let err = ClassifierHead::train(&fixture()[..4], &HeadOptions::default()).unwrap_err();
        assert!(matches!(err, HeadError::NothingToTrain(20)));
    }
}
