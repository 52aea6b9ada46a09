use std::process::ExitCode;

fn main() -> ExitCode {
    classhub::cli::main()
}
