//! `mnist-lab devices`: what this binary can run on here, and what `train` would pick.

use anyhow::Result;

use super::BackendArg;
use crate::backend::{self, BackendName};

pub fn run(args: BackendArg) -> Result<()> {
    let compiled: Vec<&str> = backend::compiled().iter().map(|b| b.as_str()).collect();
    outln!("compiled backends: {}", compiled.join(", "));
    if BackendName::Wgpu.is_compiled() {
        let adapters = backend::adapters();
        if adapters.is_empty() {
            outln!("wgpu adapters: none found");
        } else {
            outln!("wgpu adapters:");
        }
        for a in adapters {
            outln!(
                "  {}{}: largest buffer {} MiB, {} invocations per workgroup",
                a.description,
                if a.software { " [software]" } else { "" },
                a.max_allocation >> 20,
                a.max_workgroup_invocations
            );
        }
    } else {
        outln!("wgpu: not compiled in (build with `--features wgpu` for GPUs)");
    }
    let picked = backend::select(args.backend)?;
    match picked.adapter {
        Some(adapter) => outln!("train would run on: {} ({adapter})", picked.name),
        None => outln!("train would run on: {}", picked.name),
    }
    Ok(())
}
