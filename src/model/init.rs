//! Named weight initialisers (lecture step 2), following Keras' definitions, mapped onto Burn's
//! `Initializer` where Burn has the same one.

use burn::nn::Initializer;
use burn::tensor::{Distribution, Tensor};
use formats::config::Init;

/// How Keras' `TruncatedNormal` relates to its standard deviation: the normal is redrawn beyond
/// ±2σ, which leaves 0.8796² of the variance, so σ is widened by this factor first.
const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;

/// The Burn initializer for a weight matrix of a layer with `fan_in` inputs and `fan_out`
/// outputs. He- and Glorot-normal draw from the widened normal that [`truncate`] then cuts.
pub fn weight_initializer(init: Init, fan_in: usize, fan_out: usize, std: f64) -> Initializer {
    let sqrt2 = std::f64::consts::SQRT_2;
    match init {
        Init::Normal => Initializer::Normal { mean: 0.0, std },
        Init::ScaledNormal => Initializer::Normal { mean: 0.0, std: 1.0 / (fan_in as f64).sqrt() },
        // U(±√(6/(fan_in+fan_out))), Keras' default.
        Init::GlorotUniform => Initializer::XavierUniform { gain: 1.0 },
        // U(±√(6/fan_in)).
        Init::HeUniform => Initializer::KaimingUniform { gain: sqrt2, fan_out_only: false },
        Init::GlorotNormal | Init::HeNormal => {
            Initializer::Normal { mean: 0.0, std: truncated_std(init, fan_in, fan_out).unwrap_or(std) }
        }
    }
}

/// The widened σ of Keras' truncated normals: √(2/(fan_in+fan_out)) for Glorot, √(2/fan_in) for
/// He, each divided by [`TRUNCATED_STD`]; `None` for the other initialisers.
pub fn truncated_std(init: Init, fan_in: usize, fan_out: usize) -> Option<f64> {
    let variance = match init {
        Init::GlorotNormal => 2.0 / (fan_in + fan_out) as f64,
        Init::HeNormal => 2.0 / fan_in as f64,
        _ => return None,
    };
    Some(variance.sqrt() / TRUNCATED_STD)
}

/// `weights` drawn from N(0, σ²) with every value beyond ±2σ redrawn, as Keras' `TruncatedNormal`.
pub fn truncate(mut weights: Tensor<2>, std: f64) -> Tensor<2> {
    loop {
        let outside = weights.clone().abs().greater_elem(2.0 * std);
        if !outside.clone().any().into_scalar::<bool>() {
            return weights;
        }
        let fresh = weights.random_like(Distribution::Normal(0.0, std));
        weights = weights.mask_where(outside, fresh);
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::Mlp;
    use formats::config::ModelConfig;

    /// Keras' he_normal / glorot_normal: nothing beyond two (widened) σ, and the kept values have
    /// the variance the name promises, 2/fan_in or 2/(fan_in + fan_out).
    #[test]
    fn truncated_normals_have_keras_bounds_and_variance() {
        let device = Device::default();
        device.seed(7);
        for (init, variance) in [("he-normal", 2.0 / 784.0), ("glorot-normal", 2.0 / (784.0 + 512.0))] {
            let text =
                format!("hidden = [{{ units = 512, activation = \"relu\" }}]\noutput = \"softmax\"\ninit = \"{init}\"");
            let cfg: ModelConfig = toml::from_str(&text).unwrap();
            let w: Vec<f32> = Mlp::new(&cfg, &device).layers[0].weight.val().into_data().try_to_vec().unwrap();
            let bound = 2.0 * truncated_std(cfg.init, 784, 512).unwrap();
            assert!(w.iter().all(|v| (*v as f64).abs() <= bound), "{init}: a value beyond ±{bound}");
            let var = w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64;
            assert!((var / variance - 1.0).abs() < 0.02, "{init}: variance {var}, want {variance}");
            // Truncated, not clipped: no pile-up at the bounds.
            let near = w.iter().filter(|v| (v.abs() as f64) > 0.99 * bound).count() as f64 / w.len() as f64;
            assert!(near < 0.01, "{init}: {near} of the values sit at the bound (clipping would put 4.6 % there)");
        }
    }
}
