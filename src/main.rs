//! The `rollsim` command line: parse arguments, run one command, exit with its code.

mod cli;

fn main() {
    // Like other Unix tools, end quietly when the reader of stdout goes away
    // (`rollsim run | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // An interrupted command leaves nothing half-written behind.
    let _ = ctrlc::set_handler(|| {
        rollsim::outdir::remove_in_progress();
        std::process::exit(130);
    });
    std::process::exit(cli::main());
}
