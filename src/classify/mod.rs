//! The classifier head: multinomial logistic regression over TF-IDF terms and
//! the ticket embedding, trained in process from the stored incidents. Triage
//! blends its probabilities with the neighbours' vote and names the terms that
//! weighed most.

mod familiarity;
mod features;
mod head;
mod reasons;
mod softmax;

pub use familiarity::{FLOOR_QUANTILE, neighbour_floor};
pub use features::{CHAR_GRAM_PREFIX, SparseRow, Vocabulary, terms, tokens};
pub use head::{ClassifierHead, Features, HeadError, HeadOptions, TermWeight, TrainingExample};
pub use reasons::explains;
pub use softmax::{Example, SoftmaxRegression, TrainOptions, softmax};
