//! The widest vector instructions this CPU runs, found once. Every hand-vectorised path (the
//! fused dense layer's epilogue, dropout masks, augmentation warps, the optimizers' host loop,
//! `bench`'s FMA peak) picks its version from [`simd`], so what each level guarantees is said
//! here, once, and the `unsafe` calls of `#[target_feature]` functions rest on it.
//!
//! The level can be capped, to measure or test a narrower CPU's path on a wider one: a build
//! without the `avx512` feature stops at AVX2+FMA (gemm's kernels too, which are chosen at
//! build time); `MNIST_LAB_SIMD=avx2|avx|portable` caps our own paths at run time.

use std::sync::OnceLock;

/// A level includes every level below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    /// Nothing beyond the target's baseline (SSE2 on x86-64), or not x86-64 at all.
    Portable,
    /// AVX: 256-bit float vectors.
    Avx,
    /// AVX, AVX2 and FMA.
    Avx2Fma,
    /// All of the above, and AVX-512 F and DQ.
    Avx512,
}

/// This CPU's level, detected on the first call, within the build's and [`ENV`]'s cap.
pub fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let built = if cfg!(feature = "avx512") { Simd::Avx512 } else { Simd::Avx2Fma };
        detect().min(built).min(cap().ok().flatten().unwrap_or(Simd::Avx512))
    })
}

/// The variable that caps our own paths.
pub const ENV: &str = "MNIST_LAB_SIMD";

/// [`ENV`]'s cap: `None` when unset; an unknown value is an error naming the ones there are
/// (main checks it before anything runs).
pub fn cap() -> Result<Option<Simd>, String> {
    let Some(value) = std::env::var_os(ENV) else { return Ok(None) };
    match value.to_string_lossy().trim() {
        "" => Ok(None),
        "avx512" => Ok(Some(Simd::Avx512)),
        "avx2" => Ok(Some(Simd::Avx2Fma)),
        "avx" => Ok(Some(Simd::Avx)),
        "portable" => Ok(Some(Simd::Portable)),
        other => Err(format!("{ENV}={other:?} is not a vector level: avx512, avx2, avx or portable")),
    }
}

impl Simd {
    /// The level in words, as `bench` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Avx512 => "avx512",
            Simd::Avx2Fma => "avx2+fma",
            Simd::Avx => "avx",
            Simd::Portable => "portable",
        }
    }
}

/// What runs the training's arithmetic: gemm's kernels (from the build and the CPU: AVX-512 only
/// with the `avx512` feature) and our own (from [`simd`]), e.g. `avx2+fma` or
/// `gemm avx512+fma, ours avx2+fma`.
pub fn kernels() -> String {
    let detected = detect();
    let gemm = if cfg!(feature = "avx512") && detected == Simd::Avx512 {
        "avx512+fma"
    } else if detected >= Simd::Avx2Fma {
        "avx2+fma"
    } else {
        "portable"
    };
    let ours = match simd() {
        Simd::Avx512 => "avx512+fma",
        level => level.name(),
    };
    if gemm == ours { gemm.to_string() } else { format!("gemm {gemm}, ours {ours}") }
}

fn detect() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        let avx = std::is_x86_feature_detected!("avx");
        let avx2_fma = avx && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        if avx2_fma && std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            return Simd::Avx512;
        }
        if avx2_fma {
            return Simd::Avx2Fma;
        }
        if avx {
            return Simd::Avx;
        }
    }
    Simd::Portable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_what_the_cpu_reports_within_its_caps() {
        #[cfg(target_arch = "x86_64")]
        {
            let level = simd();
            let cap = cap().unwrap().unwrap_or(Simd::Avx512);
            let built = if cfg!(feature = "avx512") { Simd::Avx512 } else { Simd::Avx2Fma };
            assert_eq!(level, detect().min(cap).min(built));
            assert_eq!(detect() >= Simd::Avx, std::is_x86_feature_detected!("avx"));
            assert_eq!(
                detect() >= Simd::Avx512,
                std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
            );
        }
        assert_eq!(simd(), simd(), "detected once, the same every time");
    }
}
