//! The widest vector instructions this CPU runs, found once. Every hand-vectorised path (the
//! fused dense layer's epilogue, dropout masks, augmentation warps, the optimizers' host loop,
//! `bench`'s FMA peak) picks its version from [`simd`], so what each level guarantees is said
//! here, once, and the `unsafe` calls of `#[target_feature]` functions rest on it.

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

/// This CPU's level, detected on the first call.
pub fn simd() -> Simd {
    static LEVEL: OnceLock<Simd> = OnceLock::new();
    *LEVEL.get_or_init(detect)
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
    fn the_level_is_what_the_cpu_reports() {
        #[cfg(target_arch = "x86_64")]
        {
            let level = simd();
            assert_eq!(level >= Simd::Avx, std::is_x86_feature_detected!("avx"));
            assert_eq!(
                level >= Simd::Avx512,
                std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq")
            );
        }
        assert_eq!(simd(), simd(), "detected once, the same every time");
    }
}
