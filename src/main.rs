//! The `rollsim` command line: parse arguments, run one command, print errors.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
