use clap::Parser;

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
        eprintln!("error: internal error: {what}{at}; please report it with the command you ran");
    }));
    let cli = mnist_lab::cli::Cli::parse();
    // Everything runs on a worker of the thread pool Burn's matrix products split across: the
    // calling thread then takes a share of each product instead of sleeping beside the pool's
    // threads, which on a 2-core machine spin for the core it needs between products.
    let pool = rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build();
    let run = |cli| match &pool {
        Ok(pool) => pool.install(|| mnist_lab::cli::run(cli)),
        Err(_) => mnist_lab::cli::run(cli),
    };
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(mnist_lab::error::kind_of(&err).exit_code());
    }
}
