//! Named weight initialisers (Keras' names), mapped onto Burn's `Initializer`.

use burn::nn::Initializer;

use crate::config::Init;

/// The Burn initializer for a weight matrix of a layer with `fan_in` inputs.
pub fn weight_initializer(init: Init, fan_in: usize, std: f64) -> Initializer {
    let sqrt2 = std::f64::consts::SQRT_2;
    match init {
        Init::Normal => Initializer::Normal { mean: 0.0, std },
        Init::ScaledNormal => Initializer::Normal { mean: 0.0, std: 1.0 / (fan_in as f64).sqrt() },
        // U(±√(6/(fan_in+fan_out))), Keras' default.
        Init::GlorotUniform => Initializer::XavierUniform { gain: 1.0 },
        Init::GlorotNormal => Initializer::XavierNormal { gain: 1.0 },
        // N(0, 2/fan_in) and U(±√(6/fan_in)).
        Init::HeNormal => Initializer::KaimingNormal { gain: sqrt2, fan_out_only: false },
        Init::HeUniform => Initializer::KaimingUniform { gain: sqrt2, fan_out_only: false },
    }
}
