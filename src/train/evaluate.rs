//! Evaluation passes: loss and accuracy of a network on a split, and the confusion matrix.

use burn::tensor::{Int, Tensor};
use formats::config::ExperimentConfig;
use formats::idx::CLASSES;

use super::loss::loss;
use super::regularization::penalty;
use crate::data::{Batch, Split};
use crate::model::Mlp;

/// Batch size for evaluation passes (no gradients, so larger is fine).
const EVAL_BATCH: usize = 1000;

/// Counts of (true label, predicted label) pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfusionMatrix(pub [[u64; CLASSES]; CLASSES]);

impl ConfusionMatrix {
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.0[truth][predicted] += 1;
    }

    /// `confusion.csv`: rows are true labels, columns predicted ones.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("true\\predicted,0,1,2,3,4,5,6,7,8,9\n");
        for (t, row) in self.0.iter().enumerate() {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            out.push_str(&format!("{t},{}\n", cells.join(",")));
        }
        out
    }
}

/// Mean loss and accuracy of `model` on `split`. The loss includes the L1/L2 penalty, as Keras'
/// `evaluate` and `val_loss` do.
pub fn evaluate(model: &Mlp, split: &Split, cfg: &ExperimentConfig) -> (f64, f64) {
    evaluation_pass(model, split, cfg, None)
}

/// [`evaluate`] plus the confusion matrix, in the same forward pass.
pub fn evaluate_with_confusion(model: &Mlp, split: &Split, cfg: &ExperimentConfig) -> (f64, f64, ConfusionMatrix) {
    let mut matrix = ConfusionMatrix::default();
    let (loss, accuracy) = evaluation_pass(model, split, cfg, Some(&mut matrix));
    (loss, accuracy, matrix)
}

/// One forward pass over `split`; filling `matrix` reads predictions back every batch, so
/// per-epoch validation leaves it out.
fn evaluation_pass(
    model: &Mlp,
    split: &Split,
    cfg: &ExperimentConfig,
    mut matrix: Option<&mut ConfusionMatrix>,
) -> (f64, f64) {
    let (loss_kind, output) = (cfg.train.loss, cfg.model.output);
    let mut loss_sum = Sum::default();
    let mut correct_sum = Sum::default();
    for start in (0..split.len).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(split.len);
        let Batch { images, targets, labels } = split.rows(start, end);
        let logits = model.forward(images);
        loss_sum.add(loss(loss_kind, output, logits.clone(), targets).mul_scalar((end - start) as f64));
        if let Some(matrix) = matrix.as_deref_mut() {
            let read =
                |t: Tensor<1, Int>| t.into_data().convert::<i64>().try_into_vec::<i64>().expect("labels read back");
            let pred = read(logits.clone().argmax(1).squeeze_dim::<1>(1));
            for (t, p) in read(labels.clone()).iter().zip(&pred) {
                matrix.add(*t as usize, *p as usize);
            }
        }
        correct_sum.add(count_correct(logits, labels));
    }
    let n = split.len as f64;
    let penalty = penalty(model, cfg.train.l1, cfg.train.l2).map_or(0.0, |p| p.into_scalar::<f64>());
    (loss_sum.get_f64() / n + penalty, correct_sum.get_i64() as f64 / n)
}

/// How many rows' largest logit is at their label, on the device.
pub fn count_correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1, Int> {
    logits.argmax(1).squeeze_dim::<1>(1).equal(labels).int().sum()
}

/// A running sum kept on the device: read back once per epoch, not once per batch.
pub struct Sum<T>(Option<T>);

impl<T> Default for Sum<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<K: burn::tensor::kind::Numeric> Sum<Tensor<1, K>> {
    pub fn add(&mut self, t: Tensor<1, K>) {
        self.0 = Some(match self.0.take() {
            Some(s) => s.add(t),
            None => t,
        });
    }
}

/// Reading a sum back is a device sync.
impl Sum<Tensor<1>> {
    pub fn get_f64(&self) -> f64 {
        self.0.clone().map_or(0.0, |s| s.into_scalar::<f64>())
    }
}

impl Sum<Tensor<1, Int>> {
    pub fn get_i64(&self) -> i64 {
        self.0.clone().map_or(0, |s| s.into_scalar::<i64>())
    }
}
