//! Trains a multilayer perceptron on the bundled MNIST digits; see `--help`.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // The Vulkan loader prints a spurious "error: XDG_RUNTIME_DIR is invalid" for
        // every instance when the variable is unset, although compute needs no display.
        // SAFETY: no other thread exists yet, so nothing reads the environment
        // concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = cli::Args::parse();
    match cli::run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}
