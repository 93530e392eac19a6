use clap::Parser;

fn main() {
    let cli = mnist_lab::cli::Cli::parse();
    if let Err(err) = mnist_lab::cli::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(mnist_lab::error::kind_of(&err).exit_code());
    }
}
