//! Cargo features + `--backend` / `BURN_DEVICE` → a Burn `Device`, without panics.
//!
//! Burn's lazy `Device::wgpu` panics on the first tensor when no adapter exists, so wgpu is brought
//! up through its fallible `wgpu_options().init_with_setup()`, once per process. Without an
//! explicit choice, a machine whose only adapter is missing or a software renderer trains on the
//! CPU after one `warning:` line; an explicit `wgpu` there is an `error:`.

use std::sync::OnceLock;

use anyhow::Result;
use burn::tensor::Device;
use clap::ValueEnum;
use formats::error;

/// The backends mnist-lab knows; which of them this binary has depends on its cargo features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendName {
    /// Burn's pure-Rust CPU backend (the default build).
    Flex,
    /// Burn's ndarray CPU backend (`--features ndarray`).
    Ndarray,
    /// GPUs through Vulkan, Metal, DX12 or OpenGL (`--features wgpu`).
    Wgpu,
}

impl BackendName {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendName::Flex => "flex",
            BackendName::Ndarray => "ndarray",
            BackendName::Wgpu => "wgpu",
        }
    }

    pub fn is_compiled(self) -> bool {
        compiled().contains(&self)
    }
}

impl std::fmt::Display for BackendName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Backends compiled into this binary, in order of preference (GPU first, as Burn does).
pub fn compiled() -> Vec<BackendName> {
    let mut names = Vec::new();
    if cfg!(feature = "wgpu") {
        names.push(BackendName::Wgpu);
    }
    if cfg!(feature = "flex") {
        names.push(BackendName::Flex);
    }
    if cfg!(feature = "ndarray") {
        names.push(BackendName::Ndarray);
    }
    names
}

/// The device a command runs on.
pub struct Selected {
    pub device: Device,
    pub name: BackendName,
    /// The adapter in words, for wgpu (`NVIDIA H100 (Vulkan, DiscreteGpu, driver …)`).
    pub adapter: Option<String>,
}

/// `--backend`, else `BURN_DEVICE`, else the preferred compiled backend that works here.
pub fn select(requested: Option<BackendName>) -> Result<Selected> {
    match requested.or(from_env()?) {
        Some(name) => explicit(name),
        None => automatic(),
    }
}

/// `BURN_DEVICE`, parsed like `--backend` (case-insensitive); empty counts as unset.
fn from_env() -> Result<Option<BackendName>> {
    match std::env::var("BURN_DEVICE") {
        Ok(v) if !v.is_empty() => BackendName::from_str(&v, true).map(Some).map_err(|_| {
            error::config(format!("BURN_DEVICE={v} is not a backend mnist-lab knows (flex, ndarray or wgpu)"))
        }),
        _ => Ok(None),
    }
}

/// Refuse a backend this binary was built without, naming the feature that adds it.
pub fn check_compiled(name: BackendName) -> Result<()> {
    if name.is_compiled() {
        return Ok(());
    }
    let available: Vec<&str> = compiled().iter().map(|b| b.as_str()).collect();
    Err(error::config(format!(
        "backend `{name}` is not available (this binary was built without it; rebuild with \
         `--features {name}`); available: {}",
        available.join(", ")
    )))
}

fn explicit(name: BackendName) -> Result<Selected> {
    check_compiled(name)?;
    if name == BackendName::Wgpu {
        let gpu = wgpu_adapter().map_err(|why| {
            error::runtime(format!("no usable wgpu adapter: {why}; {INSTALL_HINT}, or use `--backend flex`"))
        })?;
        return Ok(Selected { device: gpu.device.clone(), name, adapter: Some(gpu.description.clone()) });
    }
    Ok(Selected { device: host_device(name), name, adapter: None })
}

/// What to install for a GPU, named once for the warning and the error.
const INSTALL_HINT: &str = "for a GPU install its Vulkan driver and the Vulkan loader (Debian/Ubuntu: \
                            `libvulkan1` with `mesa-vulkan-drivers` or the NVIDIA driver)";

fn automatic() -> Result<Selected> {
    let cpu = compiled().into_iter().find(|&b| b != BackendName::Wgpu);
    if BackendName::Wgpu.is_compiled() {
        match (wgpu_adapter(), cpu) {
            (Ok(gpu), _) if !gpu.software => {
                return Ok(Selected {
                    device: gpu.device.clone(),
                    name: BackendName::Wgpu,
                    adapter: Some(gpu.description.clone()),
                });
            }
            (Ok(gpu), Some(cpu)) => errln!(
                "warning: the only wgpu adapter is {}, a software renderer: running on {cpu}, which \
                 is faster on this CPU (`--backend wgpu` uses it anyway)",
                gpu.description
            ),
            (Err(why), Some(cpu)) => {
                errln!("warning: no usable wgpu adapter ({why}): running on the CPU ({cpu}); {INSTALL_HINT}")
            }
            (_, None) => return explicit(BackendName::Wgpu),
        }
    }
    let name =
        cpu.ok_or_else(|| error::config("no backend compiled in; build with --features flex, ndarray or wgpu"))?;
    Ok(Selected { device: host_device(name), name, adapter: None })
}

fn host_device(name: BackendName) -> Device {
    match name {
        #[cfg(feature = "flex")]
        BackendName::Flex => Device::flex(),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)]
        BackendName::Ndarray => Device::ndarray(),
        _ => unreachable!("{name} is compiled in and not a wgpu device"),
    }
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

/// WebGPU's default storage-buffer binding size, the least an adapter can offer.
pub const WEBGPU_MIN_ALLOCATION: u64 = 128 << 20;

/// The largest single buffer `device` accepts, in bytes; None for host memory. CubeCL caps every
/// allocation at the adapter's min(max_storage_buffer_binding_size, max_buffer_size).
pub fn max_allocation(device: &Device) -> Option<u64> {
    if is_host(device) {
        return None;
    }
    Some(match WGPU.get() {
        Some(Ok(gpu)) if gpu.device == *device => gpu.max_allocation,
        // A device brought up elsewhere: assume the least any adapter offers.
        _ => WEBGPU_MIN_ALLOCATION,
    })
}

/// Called by `main` before any thread starts. Without `XDG_RUNTIME_DIR` (containers, batch
/// jobs), libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`
/// each time wgpu probes for a Wayland display while listing adapters; a user reads "error" on
/// a run that works. An absolute directory there makes the probe fail quietly.
pub fn prepare_environment() {
    #[cfg(all(feature = "wgpu", unix))]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|d| !std::path::Path::new(&d).is_absolute()) {
        // SAFETY: main calls this first, while the process has one thread.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// The wgpu adapter of this process, brought up once.
struct WgpuAdapter {
    device: Device,
    description: String,
    software: bool,
    max_allocation: u64,
}

static WGPU: OnceLock<std::result::Result<WgpuAdapter, String>> = OnceLock::new();

fn wgpu_adapter() -> std::result::Result<&'static WgpuAdapter, String> {
    WGPU.get_or_init(gpu::init).as_ref().map_err(Clone::clone)
}

/// One adapter as `mnist-lab devices` lists it.
#[derive(Debug, Clone)]
pub struct AdapterReport {
    pub description: String,
    pub software: bool,
    pub max_allocation: u64,
    pub max_workgroup_invocations: u32,
}

/// Every adapter wgpu finds on every graphics API (empty without the `wgpu` feature).
pub fn adapters() -> Vec<AdapterReport> {
    gpu::adapters()
}

#[cfg(feature = "wgpu")]
mod gpu {
    use burn::tensor::Device;
    use burn::tensor::wgpu::{WgpuInitError, wgpu};

    use super::{AdapterReport, WgpuAdapter};

    pub fn init() -> Result<WgpuAdapter, String> {
        let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| match e {
            WgpuInitError::AdapterUnavailable { .. } => "no Vulkan, Metal, DX12 or OpenGL adapter found".to_string(),
            e => e.to_string(),
        })?;
        let info = setup.adapter.get_info();
        let limits = setup.device.limits();
        Ok(WgpuAdapter {
            device,
            description: describe(&info),
            software: info.device_type == wgpu::DeviceType::Cpu,
            max_allocation: max_allocation(&limits),
        })
    }

    fn max_allocation(limits: &wgpu::Limits) -> u64 {
        limits.max_storage_buffer_binding_size.min(limits.max_buffer_size)
    }

    fn describe(info: &wgpu::AdapterInfo) -> String {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let driver = if driver.is_empty() { String::new() } else { format!(", {driver}") };
        format!("{} ({:?}, {:?}{driver})", info.name, info.backend, info.device_type)
    }

    pub fn adapters() -> Vec<AdapterReport> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|adapter| {
                let (info, limits) = (adapter.get_info(), adapter.limits());
                AdapterReport {
                    description: describe(&info),
                    software: info.device_type == wgpu::DeviceType::Cpu,
                    max_allocation: max_allocation(&limits),
                    max_workgroup_invocations: limits.max_compute_invocations_per_workgroup,
                }
            })
            .collect()
    }
}

#[cfg(not(feature = "wgpu"))]
mod gpu {
    use super::{AdapterReport, WgpuAdapter};

    pub fn init() -> Result<WgpuAdapter, String> {
        Err("this binary was built without `--features wgpu`".into())
    }

    pub fn adapters() -> Vec<AdapterReport> {
        Vec::new()
    }
}
