use std::io::Write;

use clap::Parser;
use formats::error;
use mnist_lab::console;

/// More worker threads than any machine this runs on has use for (each reserves a stack).
const MAX_THREADS: usize = 1024;

fn main() {
    // A bug or a device failure deep in a dependency still ends as one `error:` line.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".into());
        let at = info.location().map(|l| format!(" (at {}:{})", l.file(), l.line())).unwrap_or_default();
        // Not eprintln!: a closed stderr must not panic inside the panic hook.
        let _ =
            writeln!(std::io::stderr(), "error: internal error: {what}{at}; please report it with the command you ran");
    }));
    mnist_lab::backend::prepare_environment();
    let cli = mnist_lab::cli::Cli::parse();
    let result = threads().and_then(|threads| mnist_lab::cpu::cap().map(|_| threads).map_err(error::config)).and_then(
        |threads| {
            // Everything runs on a worker of the thread pool Burn's matrix products split across: the
            // calling thread then takes a share of each product instead of sleeping beside the pool's
            // threads, which on a 2-core machine spin for the core it needs between products.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).stack_size(8 << 20).build();
            match pool {
                Ok(pool) => {
                    let result = pool.install(|| mnist_lab::cli::run(cli));
                    // Never dropped: dropping lets the workers exit while `exit` runs the graphics
                    // libraries' destructors, and a worker that touched EGL (wgpu's adapter search)
                    // then frees the same thread-local state as libEGL's destructor does: a double
                    // free on one exit in a hundred. Idle workers simply end with the process.
                    std::mem::forget(pool);
                    result
                }
                Err(_) => mnist_lab::cli::run(cli),
            }
        },
    );
    // Output the command could not write is its error, unless it already failed otherwise.
    if let Err(err) = result.and_then(|()| console::finish()) {
        let _ = writeln!(std::io::stderr(), "error: {}", console::error_line(&format!("{err:#}")));
        std::process::exit(error::kind_of(&err).exit_code());
    }
}

/// The pool's size: `RAYON_NUM_THREADS` when set (as rayon reads it; 0 or unset means one per
/// core), refused above [`MAX_THREADS`] rather than failing to start that many threads.
fn threads() -> anyhow::Result<usize> {
    let Some(value) = std::env::var_os("RAYON_NUM_THREADS") else { return Ok(0) };
    let value = value.to_string_lossy();
    if value.trim().is_empty() {
        return Ok(0);
    }
    match value.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        Ok(n) => Err(error::config(format!(
            "RAYON_NUM_THREADS={n} asks for more threads than mnist-lab can use (at most {MAX_THREADS}; \
             this machine has {} cores)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ))),
        Err(_) => Err(error::config(format!("RAYON_NUM_THREADS={value:?} is not a number of threads"))),
    }
}
