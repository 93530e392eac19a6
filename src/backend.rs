//! Cargo feature + `--backend` / `BURN_DEVICE` → a Burn `Device`.

use anyhow::Result;
use burn::tensor::Device;

use crate::error;

/// Backends compiled into this binary, in order of preference (GPU first, as Burn does).
pub fn compiled() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    names
}

/// The backend named by `--backend`, else by `BURN_DEVICE`, else the first compiled one.
/// Checked here so an unknown or not-compiled name is an `error:`, not Burn's panic.
pub fn select(requested: Option<&str>) -> Result<(Device, String)> {
    let from_env = std::env::var("BURN_DEVICE").ok().filter(|v| !v.is_empty());
    let available = compiled();
    let name = match requested.map(str::to_string).or(from_env.map(|v| v.to_lowercase())) {
        Some(name) => name,
        None => available
            .first()
            .ok_or_else(|| error::config("no backend compiled in; build with --features flex, ndarray or wgpu"))?
            .to_string(),
    };
    if !available.contains(&name.as_str()) {
        let known = ["flex", "ndarray", "wgpu"];
        let why = if known.contains(&name.as_str()) {
            format!("this binary was built without it; rebuild with `--features {name}`")
        } else {
            "unknown backend".to_string()
        };
        return Err(error::config(format!(
            "backend `{name}` is not available ({why}); available: {}",
            available.join(", ")
        )));
    }
    Ok((device(&name), name))
}

/// Whether `device`'s tensors live in host memory (flex, ndarray). There a hand-written loop
/// (one pass over the data) beats a chain of tensor ops (one pass and one buffer each), and
/// reading a tensor back costs no device sync.
pub fn is_host(device: &Device) -> bool {
    use burn::backend::DispatchDevice;
    match device.clone().inner().as_dispatch() {
        #[cfg(feature = "flex")]
        DispatchDevice::Flex(_) => true,
        #[cfg(feature = "ndarray")]
        DispatchDevice::NdArray(_) => true,
        _ => false,
    }
}

fn device(name: &str) -> Device {
    match name {
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        #[cfg(feature = "flex")]
        "flex" => Device::flex(),
        #[cfg(feature = "ndarray")]
        "ndarray" => Device::ndarray(),
        _ => unreachable!("checked against compiled() above"),
    }
}
